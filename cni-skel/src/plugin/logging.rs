//! Logging for plugins: `tracing` to stderr or a file, never to stdout (stdout carries the result).
//!
//! With [`LOG_ENV`] set, tracing-subscriber's `fmt` subscriber with an `EnvFilter` does the work.
//! Unset (the normal case), only warnings and errors can be printed and a call usually prints
//! nothing, so a small subscriber of our own ([`Lean`]) takes its place: building the `fmt`
//! subscriber, its filter and its span registry cost a plugin process about 60 000 instructions
//! (8 % of a bridge ADD) for nothing.

use std::fmt::{self, Write as _};
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::env::CniEnv;

/// The variable holding the log filter, in `tracing` `EnvFilter` syntax (`debug`,
/// `cni_skel=trace,warn`...). Unset: warnings and errors only.
pub const LOG_ENV: &str = "CNI_RS_LOG";
/// The variable naming a file the log is appended to instead of stderr.
pub const LOG_FILE_ENV: &str = "CNI_RS_LOG_FILE";

/// Installs a global `tracing` subscriber configured from `env` ([`LOG_ENV`], [`LOG_FILE_ENV`]).
///
/// Writes to stderr unless a log file is named; if that file cannot be opened, logs go to stderr
/// with a warning. An invalid filter falls back to `warn`. Does nothing if a subscriber is
/// already installed. [`crate::main`] calls this; call it yourself if you use [`crate::run`].
///
/// Without a filter (the variable unset or empty) only warnings and errors are enabled, and they
/// are written by a lighter subscriber in the same line format as the filtered one (without
/// the span context, which it does not track).
pub fn init_logging(env: &CniEnv) {
    let (file, file_error) = match env.non_empty(LOG_FILE_ENV).map(open_log_file) {
        Some(Ok(file)) => (Some(file), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let installed = match env.non_empty(LOG_ENV) {
        None => match file {
            Some(file) => Lean::new(file).try_init().is_ok(),
            None => Lean::new(std::io::stderr()).try_init().is_ok(),
        },
        Some(directive) => init_filtered(directive, file),
    };
    if installed && let Some(e) = file_error {
        tracing::warn!("{e}; logging to stderr");
    }
}

/// Opens the log file for appending, creating it if needed; the error is the warning to log.
fn open_log_file(path: &str) -> Result<std::fs::File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open log file {path}: {e}"))
}

/// The subscriber for an explicit filter: tracing-subscriber's `fmt` with an `EnvFilter`.
/// Returns whether it was installed. Not inlined: its builders take kilobytes of stack, which
/// would otherwise be part of the caller's frame (a plugin's `main`) whether or not logging is
/// asked for.
#[inline(never)]
fn init_filtered(directive: &str, file: Option<std::fs::File>) -> bool {
    let (filter, bad_filter) = match EnvFilter::try_new(directive) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("warn"), Some(e.to_string())),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(true);
    let installed = match file {
        Some(file) => builder.with_writer(Mutex::new(file)).try_init().is_ok(),
        None => builder.with_writer(std::io::stderr).try_init().is_ok(),
    };
    if installed && let Some(e) = bad_filter {
        tracing::warn!("invalid {LOG_ENV} filter {directive:?}: {e}; using \"warn\"");
    }
    installed
}

/// A subscriber that enables warnings and errors only, does not track spans, and writes each
/// event as one line to `W`, in the shape of tracing-subscriber's `fmt` output without colours:
///
/// ```text
/// 2026-11-28T20:39:41.123456Z  WARN cni_skel::plugin: the message key="value" n=3
/// ```
///
/// Events forwarded from the `log` crate (`SubscriberInitExt::try_init` installs the forwarder)
/// show the `log` record's target, as `fmt` does.
pub(crate) struct Lean<W> {
    out: Mutex<W>,
    next_span: AtomicU64,
}

impl<W: Write + Send + 'static> Lean<W> {
    pub(crate) fn new(out: W) -> Self {
        Lean {
            out: Mutex::new(out),
            next_span: AtomicU64::new(1),
        }
    }
}

/// The most verbose level [`Lean`] enables.
const LEAN_MAX: Level = Level::WARN;

impl<W: Write + Send + 'static> Subscriber for Lean<W> {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= LEAN_MAX
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(LEAN_MAX))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Spans are not tracked; each still gets an id of its own (never 0, which is invalid).
        let id = self.next_span.fetch_add(1, Ordering::Relaxed);
        Id::from_u64(id.max(1))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let line = format_line(event, SystemTime::now());
        // A poisoned lock only means another thread panicked while writing: keep logging.
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // Nowhere to report a failed log write; the call's outcome does not depend on it.
        let _ = out.write_all(line.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// One event as a line: timestamp, level (padded to five), target, message and fields.
fn format_line(event: &Event<'_>, now: SystemTime) -> String {
    let metadata = event.metadata();
    let mut fields = Fields::default();
    event.record(&mut fields);
    let target = fields.log_target.as_deref().unwrap_or(metadata.target());
    let mut line = String::with_capacity(64 + fields.text.len());
    write_timestamp(&mut line, now);
    let _ = write!(
        line,
        " {:>5} {target}: {}",
        metadata.level().as_str(),
        fields.text
    );
    line.push('\n');
    line
}

/// The fields of an event as `fmt`'s default field formatter writes them: the message first as
/// text (control characters a terminal could act on escaped), the others as `name=value` with
/// the value's `Debug` form, separated by spaces. `log.*` fields of a forwarded `log` record are
/// metadata, not printed; `log.target` replaces the target.
#[derive(Default)]
struct Fields {
    text: String,
    log_target: Option<String>,
}

impl Fields {
    fn separate(&mut self) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.record_debug(field, &format_args!("{value}")),
            "log.target" => self.log_target = Some(value.to_owned()),
            _ => self.record_debug(field, &value),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        match value.source() {
            Some(source) => self.record_debug(
                field,
                &format_args!(
                    "{} {}.sources={}",
                    Escaped(value),
                    field.name(),
                    Sources(source)
                ),
            ),
            None => self.record_debug(field, &format_args!("{}", Escaped(value))),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        self.separate();
        let _ = match name {
            "message" => write!(EscapingWriter(&mut self.text), "{value:?}"),
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                write!(self.text, "{name}={value:?}")
            }
        };
    }
}

/// A `fmt::Write` that escapes the characters `fmt` escapes in messages and errors: ESC, BEL,
/// BS, FF, DEL and the C1 controls.
struct EscapingWriter<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for EscapingWriter<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for ch in s.chars() {
            match ch {
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => {
                    write!(self.0, "\\x{:02x}", u32::from(ch))?;
                }
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", u32::from(ch))?,
                _ => self.0.write_char(ch)?,
            }
        }
        Ok(())
    }
}

/// An error's `Display` text, escaped like a message.
struct Escaped<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapingWriter(f), "{}", self.0)
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An error and its own sources as a list: `[source, its source]`.
struct Sources<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut next = Some(self.0);
        while let Some(error) = next {
            list.entry(&Escaped(error));
            next = error.source();
        }
        list.finish()
    }
}

/// Writes `time` as RFC 3339 in UTC with microseconds (`2026-11-28T20:39:41.123456Z`), the form
/// `fmt`'s default timer prints. A time before 1970 is written as the epoch.
fn write_timestamp(out: &mut String, time: SystemTime) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since_epoch.subsec_micros()
    );
}

/// The proleptic Gregorian date `days` days after 1970-01-01: counted in 400-year eras of
/// 146 097 days that start on 1 March, so that the leap day ends a year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Days since 0000-03-01 (719 468 days before the epoch).
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    // The year of the era: 365 days a year, less a day every 4 years, plus one every 100 but
    // not every 400 (the era's last day is the 400th year's leap day).
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 153 days in each five months (31 30 31 30 31).
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A writer the test keeps a handle on.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot add the route")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// The events the format tests log: a message with fields of each kind, an error with a
    /// source, a message with an escape character, an error-level event without a message.
    fn log_samples() {
        let error = Outer(std::io::Error::other("file exists"));
        tracing::warn!(
            ifname = "eth0",
            mtu = 1500_u32,
            up = true,
            offset = -3_i64,
            r#type = "bridge",
            why = ?Some(7),
            "veth {} is gone\x1b[2J",
            "pod1"
        );
        tracing::error!(error = &error as &(dyn std::error::Error + 'static), n = 1);
    }

    /// Drops the timestamp (everything up to the first space) of each line.
    fn without_timestamps(text: &str) -> Vec<String> {
        text.lines()
            .map(|line| line.split_once(' ').map(|(_, rest)| rest).unwrap_or(line))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn lean_writes_warnings_like_fmt_does() {
        let lean_out = Shared::default();
        tracing::subscriber::with_default(Lean::new(lean_out.clone()), log_samples);
        let fmt_out = Shared::default();
        let writer = fmt_out.clone();
        let fmt = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("warn"))
            .with_ansi(false)
            .with_target(true)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(fmt, log_samples);

        let lean = without_timestamps(&lean_out.text());
        let target = module_path!();
        assert_eq!(
            lean,
            [
                format!(
                    " WARN {target}: veth pod1 is gone\\x1b[2J ifname=\"eth0\" mtu=1500 up=true \
                     offset=-3 type=\"bridge\" why=Some(7)"
                ),
                format!(
                    "ERROR {target}: error=cannot add the route \
                     error.sources=[file exists] n=1"
                ),
            ]
        );
        assert_eq!(lean, without_timestamps(&fmt_out.text()));
    }

    #[test]
    fn lean_timestamp_is_rfc3339_utc_with_microseconds() {
        let out = Shared::default();
        tracing::subscriber::with_default(Lean::new(out.clone()), log_samples);
        let text = out.text();
        let stamp = text.split(' ').next().unwrap();
        // 2026-11-28T20:39:41.123456Z
        assert_eq!(stamp.len(), 27, "{stamp}");
        let shape: String = stamp
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99T99:99:99.999999Z");

        let mut line = String::new();
        write_timestamp(
            &mut line,
            UNIX_EPOCH + Duration::new(1_795_898_381, 123_456_789),
        );
        assert_eq!(line, "2026-11-28T20:39:41.123456Z");
    }

    #[test]
    fn civil_dates_across_leap_days_and_centuries() {
        let date = |y: i32, m: u32, d: u32| {
            // Days since the epoch by counting whole years and months.
            let leap = |y: i32| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let mut days: u64 = (1970..y).map(|y| if leap(y) { 366 } else { 365 }).sum();
            let lengths = [
                31,
                if leap(y) { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
            ];
            days += lengths.iter().take(m as usize - 1).sum::<u64>();
            days + u64::from(d) - 1
        };
        for (y, m, d) in [
            (1970, 1, 1),
            (1972, 2, 29),
            (1999, 12, 31),
            (2000, 2, 29),
            (2000, 3, 1),
            (2026, 11, 28),
            (2100, 2, 28),
            (2100, 3, 1),
            (2400, 2, 29),
            (9999, 12, 31),
        ] {
            assert_eq!(
                civil_date(date(y, m, d)),
                (y as u64, u64::from(m), u64::from(d))
            );
        }
    }

    #[test]
    fn lean_enables_warn_and_error_only() {
        let out = Shared::default();
        let lean = Lean::new(out.clone());
        assert_eq!(lean.max_level_hint(), Some(LevelFilter::WARN));
        tracing::subscriber::with_default(lean, || {
            assert!(tracing::enabled!(Level::ERROR));
            assert!(tracing::enabled!(Level::WARN));
            assert!(!tracing::enabled!(Level::INFO));
            assert!(!tracing::enabled!(Level::DEBUG));
            assert!(!tracing::enabled!(Level::TRACE));
            tracing::info!("not written");
            tracing::debug!("not written either");
            let span = tracing::warn_span!("attachment", id = 1);
            assert!(span.id().is_some_and(|id| id.into_u64() != 0));
            let _entered = span.enter();
            tracing::warn!("inside a span");
        });
        let text = out.text();
        assert!(!text.contains("not written"), "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.ends_with(&format!(" WARN {}: inside a span\n", module_path!())));
    }

    #[test]
    fn lean_appends_to_the_log_file() {
        let dir = crate::testutil::TempDir::new("lean-log");
        let path = dir.path().join("plugin.log");
        let path_text = path.to_str().unwrap();
        std::fs::write(&path, "earlier line\n").unwrap();
        for n in 0..2 {
            let file = open_log_file(path_text).unwrap();
            tracing::subscriber::with_default(Lean::new(file), || {
                tracing::warn!(n, "appended");
                tracing::info!("not written");
            });
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "earlier line");
        let target = module_path!();
        assert!(lines[1].ends_with(&format!(" WARN {target}: appended n=0")));
        assert!(lines[2].ends_with(&format!(" WARN {target}: appended n=1")));

        let missing = dir.path().join("no-such-dir").join("plugin.log");
        let error = open_log_file(missing.to_str().unwrap()).unwrap_err();
        assert!(error.starts_with("cannot open log file "), "{error}");
    }
}
