//! The report as PDF: typst, used as a library, lays out `templates/report.typ` with the
//! report's data, which the template reads as JSON from a virtual file (`/data.json`) — the
//! data is never spliced into markup, so no organisation name can become typst code.
//!
//! The world typst compiles in has exactly two files (the template and the data) and the
//! fonts: Noto Sans CJK (Simplified Chinese, which also covers Latin), regular and bold, read
//! once from `CYRISK_FONT_DIR` or Debian's `fonts-noto-cjk` location and embedded in each PDF
//! as subsets. No clock: the PDF carries no creation date, and its document id is derived from
//! the organisation, the date and the language, so the same data gives the same bytes.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, OnceLock};

use cyrisk_app::report::RenderError;
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;
use typst_pdf::PdfOptions;

/// The environment variable naming the directory of the report's fonts.
pub const FONT_DIR_ENV: &str = "CYRISK_FONT_DIR";

/// Where Debian's `fonts-noto-cjk` puts them.
pub const DEFAULT_FONT_DIR: &str = "/usr/share/fonts/opentype/noto";

/// The font files the report uses, in the directory (OpenType collections from Noto CJK 2.x).
const FONT_FILES: [&str; 2] = ["NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc"];

const TEMPLATE: &str = include_str!("../templates/report.typ");

/// The fonts, read once per process.
struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

fn font_dir() -> PathBuf {
    std::env::var_os(FONT_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FONT_DIR))
}

fn load_fonts(dir: &Path) -> Result<Fonts, String> {
    let mut fonts = Vec::new();
    for name in FONT_FILES {
        let path = dir.join(name);
        let data = std::fs::read(&path).map_err(|_| {
            format!(
                "the PDF report needs the Noto Sans CJK fonts, and {} cannot be read: install \
                 Debian's fonts-noto-cjk package (apt-get install fonts-noto-cjk) or set \
                 {FONT_DIR_ENV} to a directory holding {} (no restart needed)",
                path.display(),
                FONT_FILES.join(" and ")
            )
        })?;
        let before = fonts.len();
        fonts.extend(Font::iter(Bytes::new(data)));
        if fonts.len() == before {
            return Err(format!("{} holds no font typst can read", path.display()));
        }
    }
    let book = FontBook::from_fonts(&fonts);
    Ok(Fonts {
        book: LazyHash::new(book),
        fonts,
    })
}

/// The fonts once loaded (kept for the process). A failure is not kept: the next report tries
/// again, so installing the package takes effect without a restart.
static FONTS: OnceLock<Fonts> = OnceLock::new();
/// One loader at a time (the files are about 40 MB).
static LOADING: Mutex<()> = Mutex::new(());

fn fonts() -> Result<&'static Fonts, RenderError> {
    if let Some(f) = FONTS.get() {
        return Ok(f);
    }
    let _one = LOADING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(f) = FONTS.get() {
        return Ok(f);
    }
    let loaded = load_fonts(&font_dir()).map_err(RenderError::Unavailable)?;
    Ok(FONTS.get_or_init(|| loaded))
}

/// Whether the PDF report's fonts load on this machine: `Err` says what to install. Loads them
/// (kept once loaded), so a server can check at start rather than on the first request.
pub fn check_fonts() -> Result<(), String> {
    fonts().map(|_| ()).map_err(|e| match e {
        RenderError::Unavailable(m) | RenderError::Failed(m) => m,
    })
}

static LIBRARY: LazyLock<LazyHash<Library>> = LazyLock::new(|| LazyHash::new(Library::default()));

fn file_id(path: &str) -> FileId {
    // The two paths are constants, so they are valid.
    let vpath = VirtualPath::new(path).unwrap_or_else(|e| unreachable!("{path}: {e:?}"));
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

/// The world of one report: the template, its data, the fonts.
struct ReportWorld {
    fonts: &'static Fonts,
    main: Source,
    data_id: FileId,
    data: Bytes,
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.fonts.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data_id {
            Ok(self.data.clone())
        } else if id == self.main.id() {
            Ok(Bytes::from_string(self.main.text().to_owned()))
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.fonts.get(index).cloned()
    }

    /// No clock: the template takes its dates from the data.
    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

fn diagnostics(what: &str, errors: &[SourceDiagnostic]) -> RenderError {
    let messages: Vec<String> = errors.iter().map(|e| e.message.to_string()).collect();
    RenderError::Failed(format!("{what}: {}", messages.join("; ")))
}

/// Lays out the template with `data` (the JSON the template reads) and writes the PDF.
/// `ident` names the document stably (the same report, the same id).
pub(crate) fn render(data: Vec<u8>, ident: String) -> Result<Vec<u8>, RenderError> {
    let fonts = fonts()?;
    let world = ReportWorld {
        fonts,
        main: Source::new(file_id("/report.typ"), TEMPLATE.to_owned()),
        data_id: file_id("/data.json"),
        data: Bytes::new(data),
    };
    let compiled = typst::compile::<PagedDocument>(&world).output;
    let out = compiled
        .map_err(|e| diagnostics("report layout", &e))
        .and_then(|doc| {
            let options = PdfOptions {
                ident: Smart::Custom(ident),
                creator: Smart::Custom(Some(format!(
                    "cyrisk {} (typst)",
                    env!("CARGO_PKG_VERSION")
                ))),
                ..PdfOptions::default()
            };
            typst_pdf::pdf(&doc, &options).map_err(|e| diagnostics("PDF export", &e))
        });
    // typst memoises layout across compilations; without eviction the cache only grows.
    typst::comemo::evict(1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_font_directory_names_the_package() {
        let err = load_fonts(Path::new("/nonexistent-cyrisk-fonts"))
            .err()
            .expect("no fonts there");
        assert!(err.contains("fonts-noto-cjk"), "{err}");
        assert!(err.contains(FONT_DIR_ENV), "{err}");
    }
}
