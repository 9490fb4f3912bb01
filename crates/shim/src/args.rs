//! The command line berthd execs (see the crate's README in protocol.rs). Hand-parsed:
//! the shim is one per container, so it stays free of an argument-parsing crate.

use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A container: create it, hold its stdio, log it, reap it.
    Run,
    /// A process in a running container (`docker exec`).
    Exec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDriver {
    JsonFile,
    Local,
    None,
}

#[derive(Debug, Clone)]
pub struct Args {
    pub mode: Mode,
    pub id: String,
    pub exec_id: Option<String>,
    pub bundle: Option<PathBuf>,
    pub runtime_root: PathBuf,
    pub dir: PathBuf,
    pub process: Option<PathBuf>,
    pub stdin: bool,
    pub stdin_once: bool,
    pub log_driver: LogDriver,
    pub log_path: Option<PathBuf>,
    pub log_opts: Vec<(String, String)>,
    /// An external runc-compatible binary instead of the in-process library.
    pub runtime: Option<PathBuf>,
}

pub const USAGE: &str = "usage:
  berth-shim run  --id ID --bundle DIR --runtime-root DIR --dir DIR [--stdin] [--stdin-once]
                  [--log-driver json-file|local|none] [--log-path FILE] [--log-opt KEY=VALUE]...
                  [--runtime PATH]
  berth-shim exec --id ID --exec-id EID --runtime-root DIR --dir DIR --process FILE [--stdin] [--stdin-once]";

pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    let mut it = argv.into_iter().map(|a| a.into_string().map_err(|a| format!("argument {a:?} is not UTF-8")));
    let mode = match it.next().transpose()?.as_deref() {
        Some("run") => Mode::Run,
        Some("exec") => Mode::Exec,
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("no command given".into()),
    };
    let mut a = Args {
        mode,
        id: String::new(),
        exec_id: None,
        bundle: None,
        runtime_root: PathBuf::new(),
        dir: PathBuf::new(),
        process: None,
        stdin: false,
        stdin_once: false,
        log_driver: LogDriver::JsonFile,
        log_path: None,
        log_opts: Vec::new(),
        runtime: None,
    };
    let (mut have_root, mut have_dir, mut have_driver) = (false, false, false);
    while let Some(arg) = it.next().transpose()? {
        // Both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().transpose()?.ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "--id" => a.id = value("--id")?,
            "--exec-id" => a.exec_id = Some(value("--exec-id")?),
            "--bundle" => a.bundle = Some(value("--bundle")?.into()),
            "--runtime-root" => {
                a.runtime_root = value("--runtime-root")?.into();
                have_root = true;
            }
            "--dir" => {
                a.dir = value("--dir")?.into();
                have_dir = true;
            }
            "--process" => a.process = Some(value("--process")?.into()),
            "--stdin" => a.stdin = true,
            "--stdin-once" => a.stdin_once = true,
            "--log-driver" => {
                have_driver = true;
                a.log_driver = match value("--log-driver")?.as_str() {
                    "json-file" => LogDriver::JsonFile,
                    "local" => LogDriver::Local,
                    "none" => LogDriver::None,
                    d => return Err(format!("unsupported log driver {d:?} (json-file, local or none)")),
                }
            }
            "--log-path" => a.log_path = Some(value("--log-path")?.into()),
            "--log-opt" => {
                let kv = value("--log-opt")?;
                let (k, v) = kv.split_once('=').ok_or_else(|| format!("--log-opt {kv:?} is not KEY=VALUE"))?;
                a.log_opts.push((k.to_string(), v.to_string()));
            }
            "--runtime" => a.runtime = Some(value("--runtime")?.into()),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if a.id.is_empty() {
        return Err("--id is required".into());
    }
    if !have_root || !have_dir {
        return Err("--runtime-root and --dir are required".into());
    }
    match a.mode {
        Mode::Run => {
            if a.bundle.is_none() {
                return Err("run needs --bundle".into());
            }
            if a.log_driver != LogDriver::None && a.log_path.is_none() {
                if have_driver {
                    return Err("--log-path is required with a log driver other than none".into());
                }
                // No log flags at all: nothing to log to.
                a.log_driver = LogDriver::None;
            }
        }
        Mode::Exec => {
            if a.exec_id.is_none() || a.process.is_none() {
                return Err("exec needs --exec-id and --process".into());
            }
            if a.runtime.is_some() {
                return Err("exec does not take --runtime".into());
            }
            // Docker does not log exec output.
            a.log_driver = LogDriver::None;
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, String> {
        parse(s.split_whitespace().map(OsString::from))
    }

    #[test]
    fn run_line() {
        let a = p("run --id c1 --bundle /b --runtime-root /r --dir=/d --stdin --log-driver json-file --log-path /l --log-opt max-size=10m --log-opt max-file=3").unwrap();
        assert_eq!(a.mode, Mode::Run);
        assert_eq!(a.id, "c1");
        assert!(a.stdin && !a.stdin_once);
        assert_eq!(a.dir, PathBuf::from("/d"));
        assert_eq!(a.log_opts, vec![("max-size".into(), "10m".into()), ("max-file".into(), "3".into())]);
    }

    #[test]
    fn errors() {
        assert!(p("run --id c1 --runtime-root /r --dir /d").is_err());
        assert!(p("exec --id c1 --runtime-root /r --dir /d").is_err());
        assert!(p("run --id c1 --bundle /b --runtime-root /r --dir /d --bogus").is_err());
        assert!(p("run --id").is_err());
        assert!(p("fly").is_err());
        assert!(p("run --id c --bundle /b --runtime-root /r --dir /d --log-driver syslog").is_err());
    }
}
