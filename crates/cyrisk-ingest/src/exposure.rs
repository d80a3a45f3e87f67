//! Risky exposed services: what an open port with a given service and product says about an
//! asset's attack surface.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExposureClass {
    /// Interactive remote access: SSH, Telnet, RDP, VNC, r-services, WinRM.
    RemoteAccess,
    /// A database listening on the network.
    Database,
    /// File sharing: SMB, NetBIOS, NFS, FTP, TFTP, rsync.
    FileSharing,
    /// Administrative web consoles (Tomcat manager, Webmin, cPanel and the like).
    AdminPanel,
    /// VPN gateways and firewalls (the products mass exploitation favours).
    PerimeterAppliance,
}

/// One risky service seen on an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exposure {
    pub asset: String,
    pub port: u16,
    pub protocol: String,
    pub service: Option<String>,
    pub product: Option<String>,
    pub class: ExposureClass,
}

const PERIMETER_PRODUCTS: &[&str] = &[
    "fortinet",
    "fortigate",
    "fortios",
    "pulse secure",
    "ivanti",
    "globalprotect",
    "pan-os",
    "palo alto",
    "netscaler",
    "citrix gateway",
    "sonicwall",
    "cisco asa",
    "adaptive security appliance",
    "f5 big-ip",
    "big-ip",
    "juniper",
    "checkpoint",
    "check point",
];

/// Classifies an open port by service name, product and port number; `None` for services
/// that are not in a risky class (plain web, DNS, mail).
pub fn classify(port: u16, service: Option<&str>, product: Option<&str>) -> Option<ExposureClass> {
    let svc = service.unwrap_or("").to_ascii_lowercase();
    let prod = product.unwrap_or("").to_ascii_lowercase();
    if PERIMETER_PRODUCTS.iter().any(|p| prod.contains(p)) {
        return Some(ExposureClass::PerimeterAppliance);
    }
    let by_name = match svc.as_str() {
        "ssh" | "telnet" | "ms-wbt-server" | "rdp" | "vnc" | "exec" | "login" | "shell"
        | "rlogin" | "rsh" | "rexec" | "x11" | "wsman" | "winrm" => {
            Some(ExposureClass::RemoteAccess)
        }
        "mysql" | "postgresql" | "postgres" | "ms-sql-s" | "mssql" | "oracle" | "oracle-tns"
        | "mongodb" | "mongod" | "redis" | "elasticsearch" | "cassandra" | "couchdb"
        | "memcached" | "db2" => Some(ExposureClass::Database),
        "microsoft-ds" | "smb" | "cifs" | "netbios-ssn" | "nfs" | "ftp" | "tftp" | "rsync"
        | "afp" => Some(ExposureClass::FileSharing),
        _ => None,
    };
    if by_name.is_some() {
        return by_name;
    }
    if prod.contains("webmin")
        || prod.contains("cpanel")
        || prod.contains("tomcat") && prod.contains("manager")
    {
        return Some(ExposureClass::AdminPanel);
    }
    match port {
        22 | 23 | 512..=514 | 3389 | 5900..=5903 | 5985 | 5986 => Some(ExposureClass::RemoteAccess),
        1433 | 1521 | 3306 | 5432 | 6379 | 9200 | 11211 | 27017 => Some(ExposureClass::Database),
        21 | 69 | 139 | 445 | 873 | 2049 => Some(ExposureClass::FileSharing),
        2082 | 2083 | 2086 | 2087 | 8180 | 9090 | 10000 => Some(ExposureClass::AdminPanel),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(
            classify(3389, Some("ms-wbt-server"), None),
            Some(ExposureClass::RemoteAccess)
        );
        assert_eq!(
            classify(15432, Some("postgresql"), None),
            Some(ExposureClass::Database)
        );
        assert_eq!(classify(445, None, None), Some(ExposureClass::FileSharing));
        assert_eq!(
            classify(10000, Some("http"), Some("MiniServ (Webmin httpd)")),
            Some(ExposureClass::AdminPanel)
        );
        assert_eq!(
            classify(443, Some("https"), Some("FortiGate SSL VPN")),
            Some(ExposureClass::PerimeterAppliance)
        );
        assert_eq!(classify(443, Some("https"), Some("nginx")), None);
        assert_eq!(classify(53, Some("domain"), None), None);
    }
}
