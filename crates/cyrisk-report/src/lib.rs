//! cyrisk-report: the one-click risk report rendered from [`ReportData`] — HTML through askama
//! templates, the report's own words through Fluent message files in Simplified Chinese and
//! English (the rating's reasons, the plan's descriptions and the factor, control and industry
//! identifiers come from the rating in English)
//! (`locales/*/report.ftl`; a test checks both have the same keys), charts as SVG written here
//! digit by digit, so the same data always gives the same bytes; PDF through typst
//! ([`pdf`]), laying out the same words and the same SVG charts. A leaf crate: only the binary depends on it, and hands it to the application as its
//! [`ReportRenderer`].

pub mod pdf;

use askama::Template;
use cyrisk_app::report::{RenderError, ReportData, ReportFormat, ReportLang, ReportRenderer};
use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use serde::Serialize;

const EN: &str = include_str!("../locales/en/report.ftl");
const ZH_CN: &str = include_str!("../locales/zh-CN/report.ftl");

/// The messages of one language.
struct Messages {
    bundle: FluentBundle<FluentResource>,
}

impl Messages {
    fn new(lang: ReportLang) -> Result<Self, String> {
        let (tag, text) = match lang {
            ReportLang::ZhCn => ("zh-CN", ZH_CN),
            ReportLang::En => ("en", EN),
        };
        let id: unic_langid::LanguageIdentifier =
            tag.parse().map_err(|e| format!("language {tag}: {e}"))?;
        let resource = FluentResource::try_new(text.to_owned())
            .map_err(|(_, errs)| format!("{tag} messages: {errs:?}"))?;
        let mut bundle = FluentBundle::new(vec![id]);
        // No Unicode isolation marks around arguments: the report is not bidirectional text.
        bundle.set_use_isolating(false);
        bundle
            .add_resource(resource)
            .map_err(|errs| format!("{tag} messages: {errs:?}"))?;
        Ok(Self { bundle })
    }

    /// A factor's name in this language (`factor-…`; the identifier, spaced, if unknown).
    fn factor(&self, name: &str) -> String {
        let key = format!("factor-{name}");
        if self.bundle.has_message(&key) {
            self.get(&key, &[])
        } else {
            name.replace('_', " ")
        }
    }

    /// The message `key` with `args`; the key itself when missing (a test keeps none missing).
    fn get(&self, key: &str, args: &[(&str, String)]) -> String {
        let Some(pattern) = self.bundle.get_message(key).and_then(|m| m.value()) else {
            return key.to_owned();
        };
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, FluentValue::from(v.clone()));
        }
        let mut errors = Vec::new();
        self.bundle
            .format_pattern(pattern, Some(&fa), &mut errors)
            .into_owned()
    }
}

/// The message keys of a message file (every line `key = …` that is not indented).
fn keys(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_owned()))
        .collect()
}

/// A table row of open findings by age.
#[derive(Serialize)]
struct AgeLine {
    severity: String,
    cells: [usize; 4],
    kev: usize,
}

/// A row of the controls table.
#[derive(Serialize)]
struct ControlLine {
    control: String,
    outcome: String,
    assessed: String,
    self_declared: bool,
}

/// The report's values in one language: the HTML template's context, and (serialised) the
/// PDF template's data.
#[derive(Template, Serialize)]
#[template(path = "report.html")]
struct Page<'a> {
    lang: &'a str,
    d: &'a ReportData,
    #[serde(skip)]
    m: &'a Messages,
    generated: String,
    data_as_of: String,
    model: String,
    band: String,
    probability: String,
    /// The peer percentile line (empty if the organisation has none).
    peers: String,
    open_findings: String,
    chart: String,
    /// The score by rating date (SVG), from two dates on.
    trend: Option<String>,
    ageing: Vec<AgeLine>,
    controls: Vec<ControlLine>,
    show_reasons: bool,
    /// (description, score gain, loss removed) — description in English.
    plan: Vec<(String, String, String)>,
    expected_loss: Option<String>,
    quote: Option<String>,
    exceedance: Option<String>,
    regulatory: Vec<String>,
    /// The MLPS position in words.
    mlps: String,
    /// The control evidence's date range in words.
    evidence: String,
}

impl Page<'_> {
    fn t(&self, key: &str) -> String {
        self.m.get(key, &[])
    }
}

/// A horizontal bar chart of the factors' points around a zero axis, as SVG, each factor named
/// by `label`. Coordinates are written with one decimal, so the output depends only on the data.
pub fn factor_chart(d: &ReportData, label: impl Fn(&str) -> String) -> String {
    let rows = d.factors.len().max(1);
    let (width, row_h, label_w) = (640.0_f64, 22.0_f64, 190.0_f64);
    let height = rows as f64 * row_h + 20.0;
    let max = d
        .factors
        .iter()
        .map(|f| f.points.abs())
        .fold(1.0_f64, f64::max);
    let half = (width - label_w - 60.0) / 2.0;
    let axis = label_w + half;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" font-family="Noto Sans CJK SC, sans-serif" font-size="12">"#
    );
    s.push_str(&format!(
        r##"<line x1="{axis:.1}" y1="4" x2="{axis:.1}" y2="{:.1}" stroke="#888" stroke-width="1"/>"##,
        height - 4.0
    ));
    for (i, f) in d.factors.iter().enumerate() {
        let y = 10.0 + i as f64 * row_h;
        let w = f.points.abs() / max * half;
        let (x, colour) = if f.points >= 0.0 {
            (axis, "#2e7d32")
        } else {
            (axis - w, "#c62828")
        };
        s.push_str(&format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + 12.0,
            escape(&label(&f.name))
        ));
        s.push_str(&format!(
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="16" fill="{colour}"/>"#
        ));
        // The value in its own column at the right edge, clear of the bars and the labels.
        s.push_str(&format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{:+.0}</text>"#,
            width - 4.0,
            y + 12.0,
            f.points
        ));
    }
    s.push_str("</svg>");
    s
}

/// The score on each rating date (oldest first) as a line, as SVG; `None` below two dates. The
/// vertical axis spans the scores shown ±20 points (within 250–900, labelled); the dates are
/// evenly spaced in order (not to scale in time) and labelled `MM-DD` under the axis (the first,
/// the last and every third).
pub fn trend_chart(trend: &[cyrisk_app::report::TrendPoint]) -> Option<String> {
    if trend.len() < 2 {
        return None;
    }
    let (width, height, left, bottom, top) = (640.0_f64, 160.0_f64, 40.0_f64, 30.0_f64, 16.0_f64);
    let lo = trend
        .iter()
        .map(|t| t.score)
        .min()
        .unwrap_or(250)
        .saturating_sub(20)
        .max(250);
    let hi = trend
        .iter()
        .map(|t| t.score)
        .max()
        .unwrap_or(900)
        .saturating_add(20)
        .min(900);
    let span = (hi - lo).max(1) as f64;
    let step = (width - left - 30.0) / (trend.len() - 1) as f64;
    let x = |i: usize| left + i as f64 * step;
    let y = |score: i64| top + (hi - score) as f64 / span * (height - top - bottom);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" font-family="Noto Sans CJK SC, sans-serif" font-size="11">"#
    );
    s.push_str(&format!(
        r##"<line x1="{left:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888"/>"##,
        height - bottom,
        width - 20.0,
        height - bottom
    ));
    for label in [hi, lo] {
        s.push_str(&format!(
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#777">{label}</text>"##,
            left - 6.0,
            y(label) + 4.0
        ));
    }
    let path: Vec<String> = trend
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{:.1},{:.1}", x(i), y(t.score)))
        .collect();
    s.push_str(&format!(
        r##"<polyline points="{}" fill="none" stroke="#1565c0" stroke-width="2"/>"##,
        path.join(" ")
    ));
    for (i, t) in trend.iter().enumerate() {
        s.push_str(&format!(
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#1565c0"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            x(i),
            y(t.score),
            x(i),
            y(t.score) - 7.0,
            t.score
        ));
        // Dates under the axis: the first, the last, and every third between.
        if i == 0 || i + 1 == trend.len() || i % 3 == 0 {
            s.push_str(&format!(
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                x(i),
                height - bottom + 16.0,
                t.as_of.format("%m-%d")
            ));
        }
    }
    s.push_str("</svg>");
    Some(s)
}

/// Money with thousands separators and no decimals (`1,234,567`).
pub fn money(x: f64) -> String {
    // Every digit of the rounded amount, however large (not through an integer type).
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if x < -0.5 { format!("-{out}") } else { out }
}

/// The layer's annual loss against its return period (log scale, 2 to 1,000 years), as SVG.
pub fn exceedance_chart(points: &[(f64, f64)], axis_label: &str) -> String {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(rp, loss)| *rp >= 2.0 && *rp <= 1000.0 && loss.is_finite())
        .collect();
    let (width, height, left, bottom) = (640.0_f64, 260.0_f64, 90.0_f64, 40.0_f64);
    let max = pts.iter().map(|p| p.1).fold(1.0_f64, f64::max);
    let x = |rp: f64| {
        left + (rp.log10() - 2f64.log10()) / (1000f64.log10() - 2f64.log10())
            * (width - left - 20.0)
    };
    let y = |loss: f64| (height - bottom) - loss / max * (height - bottom - 20.0);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" font-family="Noto Sans CJK SC, sans-serif" font-size="12">"#
    );
    s.push_str(&format!(
        r##"<line x1="{left:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888"/><line x1="{left:.1}" y1="20" x2="{left:.1}" y2="{:.1}" stroke="#888"/>"##,
        height - bottom,
        width - 20.0,
        height - bottom,
        height - bottom
    ));
    for rp in [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0] {
        s.push_str(&format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{rp:.0}</text>"#,
            x(rp),
            height - bottom + 16.0
        ));
    }
    s.push_str(&format!(
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (left + width) / 2.0,
        height - 6.0,
        escape(axis_label)
    ));
    s.push_str(&format!(
        r#"<text x="{:.1}" y="24" text-anchor="end">{}</text>"#,
        left - 6.0,
        money(max)
    ));
    if !pts.is_empty() {
        let path: Vec<String> = pts
            .iter()
            .map(|(rp, loss)| format!("{:.1},{:.1}", x(*rp), y(*loss)))
            .collect();
        s.push_str(&format!(
            r##"<polyline points="{}" fill="none" stroke="#1565c0" stroke-width="2"/>"##,
            path.join(" ")
        ));
    }
    s.push_str("</svg>");
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report as an HTML document (UTF-8), in `lang`.
pub fn html(d: &ReportData, lang: ReportLang) -> Result<String, String> {
    let m = Messages::new(lang)?;
    let page = page(d, lang, &m);
    page.render().map_err(|e| format!("report template: {e}"))
}

/// The report as a PDF document (A4), in `lang`: the HTML report's words and charts, laid out
/// by typst. `Unavailable` when the fonts are missing (see [`pdf::check_fonts`]).
pub fn pdf(d: &ReportData, lang: ReportLang) -> Result<Vec<u8>, RenderError> {
    let m = Messages::new(lang).map_err(RenderError::Failed)?;
    let page = page(d, lang, &m);
    let labels: std::collections::BTreeMap<String, String> = keys(EN)
        .into_iter()
        .map(|k| {
            let v = m.get(&k, &[]);
            (k, v)
        })
        .collect();
    let (text_lang, region) = match lang {
        ReportLang::ZhCn => ("zh", Some("CN")),
        ReportLang::En => ("en", None),
    };
    let data = serde_json::json!({
        "lang": text_lang,
        "region": region,
        "t": labels,
        "page": page,
    });
    let bytes = serde_json::to_vec(&data).map_err(|e| RenderError::Failed(e.to_string()))?;
    pdf::render(
        bytes,
        format!("cyrisk-report/{}/{}/{}", d.org_id, d.as_of, lang.tag()),
    )
}

/// The values both templates show, worded in `m`'s language.
fn page<'a>(d: &'a ReportData, lang: ReportLang, m: &'a Messages) -> Page<'a> {
    let arg = |k: &'static str, v: String| (k, v);
    Page {
        lang: lang.tag(),
        d,
        generated: m.get("generated", &[arg("date", d.as_of.to_string())]),
        data_as_of: match d.data_as_of {
            Some(date) => m.get("data-as-of", &[arg("date", date.to_string())]),
            None => m.get("no-scan", &[]),
        },
        model: m.get(
            "model",
            &[arg("model", d.model.clone()), arg("feeds", d.feeds.clone())],
        ),
        band: m.get(
            "band",
            &[
                arg("low", d.score_low.to_string()),
                arg("high", d.score_high.to_string()),
                arg("level", m.get(&format!("confidence-{}", d.confidence), &[])),
            ],
        ),
        probability: m.get(
            "probability",
            &[arg(
                "pct",
                format!("{:.1}", d.annual_incident_probability * 100.0),
            )],
        ),
        peers: d.peers.as_ref().map_or_else(String::new, |p| {
            m.get(
                "peers",
                &[
                    arg("pct", format!("{:.1}", p.percentile)),
                    arg("count", p.peers.to_string()),
                    arg("group", m.get(&format!("peers-{}", p.peer_group), &[])),
                ],
            )
        }),
        open_findings: m.get(
            "open-findings",
            &[
                arg("count", d.open_findings.to_string()),
                arg("kev", d.open_kev.to_string()),
            ],
        ),
        chart: factor_chart(d, |name| m.factor(name)),
        trend: trend_chart(&d.trend),
        ageing: d
            .ageing
            .iter()
            .map(|r| AgeLine {
                severity: m.get(&format!("severity-{}", r.severity), &[]),
                cells: r.by_age,
                kev: r.kev,
            })
            .collect(),
        controls: d
            .controls
            .iter()
            .map(|c| ControlLine {
                control: match c.level {
                    Some(l) => format!("{} ({l})", c.control.replace('_', " ")),
                    None => c.control.replace('_', " "),
                },
                outcome: m.get(&format!("outcome-{}", c.outcome), &[]),
                assessed: c.assessed_on.map(|x| x.to_string()).unwrap_or_default(),
                self_declared: c.self_declared,
            })
            .collect(),
        // The reasons and the plan's descriptions are written by the rating in English.
        show_reasons: lang == ReportLang::En,
        plan: d
            .plan
            .iter()
            .map(|f| {
                (
                    f.description.clone(),
                    format!("{:+.0}", f.score_gain),
                    f.loss_reduction.map(money).unwrap_or_default(),
                )
            })
            .collect(),
        expected_loss: d.expected_annual_loss.map(|x| {
            m.get(
                "expected-loss",
                &[arg("amount", money(x)), arg("currency", d.currency.clone())],
            )
        }),
        quote: d.quote.as_ref().map(|q| {
            m.get(
                "quote",
                &[
                    arg("limit", money(q.limit)),
                    arg("deductible", money(q.deductible)),
                    arg("premium", money(q.premium)),
                    arg("layer", money(q.layer_expected_loss)),
                    arg("currency", d.currency.clone()),
                ],
            )
        }),
        exceedance: d
            .quote
            .as_ref()
            .map(|q| exceedance_chart(&q.exceedance, &m.get("return-period", &[]))),
        regulatory: d.regulatory.iter().map(|k| m.get(k, &[])).collect(),
        mlps: match &d.mlps {
            Some(x) if !x.assessed_levels.is_empty() || x.required_level.is_some() => m.get(
                "mlps-line",
                &[
                    arg(
                        "required",
                        x.required_level
                            .map_or_else(|| m.get("mlps-not-required", &[]), |l| l.to_string()),
                    ),
                    arg(
                        "assessed",
                        if x.assessed_levels.is_empty() {
                            "-".to_owned()
                        } else {
                            x.assessed_levels
                                .iter()
                                .map(u64::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                    ),
                ],
            ),
            _ => m.get("mlps-none", &[]),
        },
        evidence: match (d.oldest_evidence, d.newest_evidence) {
            (Some(o), Some(n)) => m.get(
                "evidence-range",
                &[arg("oldest", o.to_string()), arg("newest", n.to_string())],
            ),
            _ => m.get("evidence-none", &[]),
        },
        m,
    }
}

/// The live rating page: the report's values plus the caller's organisations, alerts and
/// tickets.
#[derive(Template)]
#[template(path = "page.html")]
struct LiveView<'a> {
    lang: &'a str,
    /// The organisation id, encoded for a query string.
    org_q: String,
    d: &'a ReportData,
    p: &'a cyrisk_app::web::LivePage,
    m: &'a Messages,
    generated: String,
    data_as_of: String,
    model: String,
    band: String,
    probability: String,
    peers: String,
    open_findings: String,
    chart: String,
    trend: Option<String>,
    ageing: Vec<AgeLine>,
    /// (severity class, severity word, title, date)
    alerts: Vec<(String, String, String, String)>,
    /// (title, status word, due date, overdue)
    tickets: Vec<(String, String, String, bool)>,
}

impl LiveView<'_> {
    fn t(&self, key: &str) -> String {
        self.m.get(key, &[])
    }
}

#[derive(Template)]
#[template(path = "fixes.html")]
struct FixesView<'a> {
    m: &'a Messages,
    currency: &'a str,
    expected_loss: Option<String>,
    /// (description, score gain, loss removed)
    plan: Vec<(String, String, String)>,
}

impl FixesView<'_> {
    fn t(&self, key: &str) -> String {
        self.m.get(key, &[])
    }
}

/// The live page's plan section (an HTML fragment), in `lang`.
pub fn fixes_fragment(
    currency: &str,
    plan: Option<&cyrisk_app::report::ReportPlan>,
    lang: ReportLang,
) -> Result<String, String> {
    let m = Messages::new(lang)?;
    let view = FixesView {
        currency,
        expected_loss: plan.and_then(|p| p.expected_annual_loss).map(|x| {
            m.get(
                "expected-loss",
                &[("amount", money(x)), ("currency", currency.to_owned())],
            )
        }),
        plan: plan
            .map(|p| {
                p.fixes
                    .iter()
                    .map(|f| {
                        (
                            f.description.clone(),
                            format!("{:+.0}", f.score_gain),
                            f.loss_reduction.map(money).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        m: &m,
    };
    view.render().map_err(|e| format!("fixes template: {e}"))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInView<'a> {
    lang: &'a str,
    m: &'a Messages,
    csrf: &'a str,
    error: Option<String>,
    hint: String,
}

impl SignInView<'_> {
    fn t(&self, key: &str) -> String {
        self.m.get(key, &[])
    }
}

/// The live rating page as HTML, in `lang`.
pub fn live_page(p: &cyrisk_app::web::LivePage, lang: ReportLang) -> Result<String, String> {
    let m = Messages::new(lang)?;
    let v = page(&p.report, lang, &m);
    let severity_class = |s: &str| match s {
        "critical" | "warning" => s.to_owned(),
        _ => "info".to_owned(),
    };
    let view = LiveView {
        lang: lang.tag(),
        org_q: form_urlencoded::byte_serialize(p.report.org_id.as_bytes()).collect(),
        d: &p.report,
        p,
        generated: v.generated,
        data_as_of: v.data_as_of,
        model: v.model,
        band: v.band,
        probability: v.probability,
        peers: v.peers,
        open_findings: v.open_findings,
        chart: v.chart,
        trend: v.trend,
        ageing: v.ageing,
        alerts: p
            .alerts
            .iter()
            .map(|a| {
                (
                    severity_class(&a.severity),
                    m.get(&format!("alert-{}", severity_class(&a.severity)), &[]),
                    a.title.clone(),
                    a.created_at.chars().take(10).collect(),
                )
            })
            .collect(),
        tickets: p
            .tickets
            .iter()
            .map(|t| {
                (
                    t.title.clone(),
                    m.get(&format!("status-{}", t.status), &[]),
                    t.due_on.clone(),
                    t.overdue,
                )
            })
            .collect(),
        m: &m,
    };
    view.render().map_err(|e| format!("page template: {e}"))
}

/// The page's sign-in form as HTML, in `lang`; `error` is a message key (`page-…`).
pub fn sign_in_page(lang: ReportLang, csrf: &str, error: Option<&str>) -> Result<String, String> {
    let m = Messages::new(lang)?;
    let view = SignInView {
        lang: lang.tag(),
        csrf,
        error: error.map(|k| m.get(k, &[])),
        hint: m.get(
            "page-key-hint",
            &[("hours", cyrisk_app::web::SESSION_HOURS.to_string())],
        ),
        m: &m,
    };
    view.render().map_err(|e| format!("sign-in template: {e}"))
}

/// The renderer the binary gives the application.
#[derive(Debug, Clone, Copy, Default)]
pub struct Renderer;

impl ReportRenderer for Renderer {
    fn render(
        &self,
        data: &ReportData,
        format: ReportFormat,
        lang: ReportLang,
    ) -> Result<Vec<u8>, RenderError> {
        match format {
            ReportFormat::Html => html(data, lang)
                .map(String::into_bytes)
                .map_err(RenderError::Failed),
            ReportFormat::Pdf => pdf(data, lang),
        }
    }

    fn page(
        &self,
        page: &cyrisk_app::web::LivePage,
        lang: ReportLang,
    ) -> Result<String, RenderError> {
        live_page(page, lang).map_err(RenderError::Failed)
    }

    fn fixes(
        &self,
        currency: &str,
        plan: Option<&cyrisk_app::report::ReportPlan>,
        lang: ReportLang,
    ) -> Result<String, RenderError> {
        fixes_fragment(currency, plan, lang).map_err(RenderError::Failed)
    }

    fn sign_in_page(
        &self,
        lang: ReportLang,
        csrf: &str,
        error: Option<&str>,
    ) -> Result<String, RenderError> {
        sign_in_page(lang, csrf, error).map_err(RenderError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_thousands_separators() {
        assert_eq!(money(0.0), "0");
        assert_eq!(money(999.4), "999");
        assert_eq!(money(1000.0), "1,000");
        assert_eq!(money(1_234_567.6), "1,234,568");
        assert_eq!(money(-25_000.0), "-25,000");
        assert_eq!(money(1e20), "100,000,000,000,000,000,000");
    }

    #[test]
    fn every_factor_has_a_name_in_both_languages() {
        for lang in [ReportLang::En, ReportLang::ZhCn] {
            let m = Messages::new(lang).unwrap();
            for f in cyrisk_core::factor::FACTORS.iter() {
                assert!(
                    m.bundle.has_message(&format!("factor-{}", f.name)),
                    "factor-{} in {lang:?}",
                    f.name
                );
            }
        }
    }

    #[test]
    fn both_languages_have_the_same_messages() {
        let (en, zh) = (keys(EN), keys(ZH_CN));
        assert!(en.len() > 40, "{en:?}");
        assert_eq!(en, zh);
        for lang in [ReportLang::En, ReportLang::ZhCn] {
            let m = Messages::new(lang).unwrap();
            for k in &en {
                let value = m.bundle.get_message(k).and_then(|x| x.value());
                assert!(value.is_some(), "{k} in {lang:?}");
                assert!(!m.get(k, &[]).trim().is_empty(), "{k} in {lang:?}");
            }
        }
    }
}
