// The long version string of Otedama's binaries, computed at build time:
// `0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-02)`, exported to the crate being built as the
// environment variable `OTEDAMA_VERSION_LONG` (read with `env!("OTEDAMA_VERSION_LONG")`).
//
// One file for every crate that needs it: `rpc/build.rs` and `node/build.rs` each
// `include!("../build/version.rs")` and call `emit_version()`, so `otedama-cli --version` and
// `otedama-node --version` are made the same way. (It is included rather than shared as a crate
// because a build script's dependencies would be one more crate to build; this file needs only
// std.) Tests: `rpc/tests/build_version.rs` includes it too.
//
// Why a commit and a date: a bug report quoting `--version` then names the exact source. The
// date is the day the build script last ran (it reruns when the commit changes, not every
// build, so that building twice does no needless work), or `SOURCE_DATE_EPOCH`'s day when that
// is set, as reproducible builds expect (https://reproducible-builds.org/specs/source-date-epoch/).
// Outside a git checkout (a source tarball, no git installed) the commit is `unknown`.
//
// Plain `//` comments: an included file cannot carry inner (`//!`) doc comments.

/// Writes the `cargo:` lines: the version for the crate, and when to run again.
pub fn emit_version() {
    let manifest_dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into()),
    );
    let package_version = std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "0.0.0".into());
    let epoch = match parse_source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref()) {
        Ok(Some(secs)) => secs,
        Ok(None) => now_epoch_secs(),
        Err(e) => {
            // The spec asks a build to fail rather than quietly ignore a malformed value.
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let commit = git_output(&manifest_dir, &["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=OTEDAMA_VERSION_LONG={}",
        version_long(
            &package_version,
            commit.as_deref(),
            &date_of_epoch_secs(epoch)
        )
    );
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    for path in git_watch_paths(&manifest_dir) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `VERSION (commit COMMIT, built YYYY-MM-DD)`, with `unknown` for a missing commit.
pub fn version_long(package_version: &str, commit: Option<&str>, date: &str) -> String {
    format!(
        "{package_version} (commit {}, built {date})",
        commit.unwrap_or("unknown")
    )
}

/// `SOURCE_DATE_EPOCH`: `Ok(None)` when unset or empty, else its seconds since 1970-01-01 UTC (a
/// non-negative decimal integer, as the spec defines it).
pub fn parse_source_date_epoch(value: Option<&str>) -> Result<Option<u64>, String> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
            format!("SOURCE_DATE_EPOCH={v:?} is not a non-negative integer of seconds since 1970")
        }),
    }
}

/// Seconds since 1970-01-01 UTC now (0 should the clock be before 1970).
fn now_epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The UTC day of a moment, `YYYY-MM-DD`.
pub fn date_of_epoch_secs(secs: u64) -> String {
    let (year, month, day) = civil_from_days(secs / 86_400);
    format!("{year:04}-{month:02}-{day:02}")
}

/// (year, month 1-12, day 1-31) of the proleptic Gregorian calendar for days since 1970-01-01:
/// Howard Hinnant's `civil_from_days` (http://howardhinnant.github.io/date_algorithms.html),
/// integer arithmetic only, so no date crate is needed. Counted in 400-year eras of 146,097
/// days from 0000-03-01, so that the leap day falls at the end of each (March-based) year.
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let day_of_era = z - era * 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11], 0 = March
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Runs git in `dir`; its trimmed output, or `None` when git is missing, fails, or says nothing.
fn git_output(dir: &std::path::Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The files whose change means a new commit is checked out: `HEAD` (a checkout, a detached
/// head), the branch's ref file (a commit on the branch), and `packed-refs` (where the ref may
/// be instead). Found through git, since `.git` may be a file (worktrees, submodules) naming the
/// real git dir. Only existing paths are listed, since Cargo reruns a build script on every build
/// while a watched path is missing; a branch ref not written yet is covered by watching the
/// nearest existing directory above it. Empty outside a git checkout.
fn git_watch_paths(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Some(git_dir) = git_output(dir, &["rev-parse", "--git-dir"]) else {
        return Vec::new();
    };
    let git_dir = dir.join(git_dir);
    // Branch refs live in the common dir, which differs from the git dir in a worktree.
    let common_dir = git_output(dir, &["rev-parse", "--git-common-dir"])
        .map(|c| dir.join(c))
        .unwrap_or_else(|| git_dir.clone());
    let head = git_dir.join("HEAD");
    let mut paths = Vec::new();
    if let Ok(text) = std::fs::read_to_string(&head) {
        if let Some(reference) = text.strip_prefix("ref:").map(str::trim) {
            let mut watched = common_dir.join(reference);
            while !watched.exists() && watched.pop() && watched.starts_with(&common_dir) {}
            if watched.starts_with(&common_dir) && watched != common_dir {
                paths.push(watched);
            }
        }
    }
    if head.exists() {
        paths.push(head);
    }
    for shared in ["packed-refs", "reftable"] {
        let path = common_dir.join(shared);
        if path.exists() {
            paths.push(path);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(date_of_epoch_secs(0), "1970-01-01");
        assert_eq!(date_of_epoch_secs(86_399), "1970-01-01");
        assert_eq!(date_of_epoch_secs(86_400), "1970-01-02");
        assert_eq!(date_of_epoch_secs(951_782_400), "2000-02-29"); // 400-year leap day
        assert_eq!(date_of_epoch_secs(951_868_800), "2000-03-01");
        assert_eq!(date_of_epoch_secs(1_078_012_800), "2004-02-29");
        assert_eq!(date_of_epoch_secs(1_709_164_800), "2024-02-29");
        assert_eq!(date_of_epoch_secs(1_709_251_200), "2024-03-01");
        assert_eq!(date_of_epoch_secs(1_735_603_200), "2024-12-31"); // day 366 of a leap year
        assert_eq!(date_of_epoch_secs(1_735_689_599), "2024-12-31");
        assert_eq!(date_of_epoch_secs(1_735_689_600), "2025-01-01");
        assert_eq!(date_of_epoch_secs(4_107_542_400), "2100-03-01"); // 2100 is not a leap year
        assert_eq!(date_of_epoch_secs(4_107_456_000), "2100-02-28");
        assert_eq!(date_of_epoch_secs(253_402_300_799), "9999-12-31");
    }

    #[test]
    fn every_day_follows_the_one_before() {
        // Walks 1970..2500 day by day: each date is the day after the previous one.
        let days_in_month = |y: u64, m: u64| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut prev = civil_from_days(0);
        for day in 1..(530 * 366) {
            let (y, m, d) = civil_from_days(day);
            let (py, pm, pd) = prev;
            let expected = if pd < days_in_month(py, pm) {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!((y, m, d), expected, "day {day}");
            prev = (y, m, d);
        }
    }

    #[test]
    fn source_date_epoch() {
        assert_eq!(parse_source_date_epoch(None), Ok(None));
        assert_eq!(parse_source_date_epoch(Some("")), Ok(None));
        assert_eq!(parse_source_date_epoch(Some("0")), Ok(Some(0)));
        assert_eq!(
            parse_source_date_epoch(Some("1709164800")),
            Ok(Some(1_709_164_800))
        );
        for bad in ["-1", "1.5", "yesterday", " 17", "0x10"] {
            let err = parse_source_date_epoch(Some(bad)).unwrap_err();
            assert!(err.contains("SOURCE_DATE_EPOCH"), "{err}");
        }
    }

    #[test]
    fn the_long_version() {
        assert_eq!(
            version_long("0.1.0", Some("1a2b3c4d5e6f"), "2026-12-02"),
            "0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-02)"
        );
        assert_eq!(
            version_long("0.1.0", None, "1970-01-01"),
            "0.1.0 (commit unknown, built 1970-01-01)"
        );
    }
}
