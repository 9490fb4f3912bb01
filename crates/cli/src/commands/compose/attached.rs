//! Attached `up` and `logs`: the containers' output behind their names until
//! they stop; Ctrl+C stops the project gracefully (a second one kills it).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use berth_api::Client;
use berth_compose::engine::logs::{self, LogOptions};
use berth_compose::engine::containers::{exit_code, state};
use berth_compose::engine::{Container, Converged, Engine, OneOff, StartOptions};

use super::output::{use_colour, LogPrinter};
use super::{project, LogsArgs, ProjectFlags, UpArgs};
use crate::commands::fail;
use crate::{CmdResult, Failure, Global};

/// The current time as the API's `since` takes it.
fn unix_now() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

/// Follows one container's log until it stops for good (a container its
/// restart policy brings back is followed again), then reports it on `done`.
fn follow(client: Client, c: Container, mut o: LogOptions, printer: Arc<LogPrinter>, stopping: Arc<AtomicBool>, done: mpsc::Sender<Container>) {
    loop {
        if let Err(e) = logs::stream(&client, &c, &o, &*printer) {
            super::output::warn(&e.to_string());
        }
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let back = state(&client, &c.id).is_ok_and(|s| s == "running" || s == "restarting");
        if !back {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        o.tail = None;
        o.since = Some(unix_now());
    }
    let _ = done.send(c);
}

pub fn up(e: &Engine, p: &ProjectFlags, a: &UpArgs, converged: &Converged) -> CmdResult {
    let mut attach: BTreeSet<String> = if a.attach.is_empty() { converged.services.clone() } else { a.attach.iter().cloned().collect() };
    attach.retain(|s| !a.no_attach.contains(s));
    if let Some(s) = &a.exit_code_from {
        if !e.project.services.contains_key(s) {
            return Err(fail(format!("no such service: {s}")));
        }
    }
    let existing = e.containers(&[], OneOff::Exclude, true).map_err(project::failure)?;
    let mut attaching: Vec<String> = existing.iter().filter(|c| attach.contains(&c.service)).map(|c| c.short_name()).collect();
    attaching.sort();
    let printer = Arc::new(LogPrinter::new(attaching.iter().map(String::as_str), use_colour(&p.ansi, a.no_color), !a.no_log_prefix));
    printer.note(&format!("Attaching to {}", attaching.join(", ")));
    let since = unix_now();
    let stopping = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    let spawned = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Container>();
    let on_started = |c: &Container| {
        if !attach.contains(&c.service) {
            return;
        }
        spawned.fetch_add(1, Ordering::SeqCst);
        // New containers show all they wrote; kept ones only what comes now.
        let o = if converged.fresh.contains(&c.id) { LogOptions { follow: true, ..Default::default() } } else { LogOptions { follow: true, since: Some(since.clone()), ..Default::default() } };
        let (client, c, printer, stopping, tx) = (e.client.clone(), c.clone(), printer.clone(), stopping.clone(), tx.clone());
        std::thread::spawn(move || follow(client, c, o, printer, stopping, tx));
    };
    let signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM]).map_err(|e| fail(e.to_string()))?;
    let handle = signals.handle();
    std::thread::scope(|s| {
        let mut signals = signals;
        let (stopping2, interrupted2) = (stopping.clone(), interrupted.clone());
        s.spawn(move || {
            for _ in signals.forever() {
                if interrupted2.swap(true, Ordering::SeqCst) {
                    eprintln!("Killing...");
                    let _ = e.kill(&[], None);
                    continue;
                }
                stopping2.store(true, Ordering::SeqCst);
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                // Stopping blocks for the grace periods; a second Ctrl+C must still be heard.
                s.spawn(move || {
                    if let Err(err) = e.stop(&[], a.timeout) {
                        super::output::warn(&err.to_string());
                    }
                });
            }
        });
        let r = watch(e, a, &printer, &stopping, &spawned, &rx, &on_started, converged);
        handle.close();
        r
    })
    .and_then(|code| if interrupted.load(Ordering::SeqCst) { Err(Failure { message: None, status: 130 }) } else { exit(code) })
}

fn exit(code: i64) -> CmdResult {
    if code == 0 {
        Ok(())
    } else {
        Err(Failure { message: None, status: code as i32 })
    }
}

/// Starts the services, then waits for the followed containers to stop; with
/// `--abort-on-container-exit` the first to stop stops them all. Returns the
/// exit status `up` ends with.
#[allow(clippy::too_many_arguments)]
fn watch(
    e: &Engine,
    a: &UpArgs,
    printer: &LogPrinter,
    stopping: &AtomicBool,
    spawned: &AtomicUsize,
    rx: &mpsc::Receiver<Container>,
    on_started: &(dyn Fn(&Container) + Sync),
    converged: &Converged,
) -> Result<i64, Failure> {
    e.start_converged(converged, &StartOptions { on_started: Some(on_started) }, a.timeout).map_err(project::failure)?;
    let abort = a.abort_on_container_exit || a.exit_code_from.is_some();
    let mut code: Option<i64> = None;
    let mut ended = 0;
    while ended < spawned.load(Ordering::SeqCst) {
        let Ok(c) = rx.recv() else { break };
        ended += 1;
        let status = exit_code(&e.client, &c.id).unwrap_or(-1);
        printer.note(&format!("{} exited with code {status}", c.short_name()));
        let counts = match &a.exit_code_from {
            Some(s) => *s == c.service,
            None => code.is_none(),
        };
        if counts && abort {
            code = Some(status);
        }
        if abort && !stopping.swap(true, Ordering::SeqCst) {
            eprintln!("Aborting on container exit...");
            e.stop(&[], a.timeout).map_err(project::failure)?;
        }
    }
    Ok(code.unwrap_or(0))
}

pub fn logs(g: &Global, p: &ProjectFlags, a: LogsArgs) -> CmdResult {
    let e = project::engine(g, p, &a.services, true)?;
    let mut list = e.containers(&a.services, OneOff::Exclude, true).map_err(project::failure)?;
    if let Some(i) = a.index {
        list.retain(|c| c.number == i);
    }
    let now = chrono::Utc::now();
    let time = |v: &Option<String>, what: &str| v.as_deref().map(|s| crate::commands::logs::timestamp(s, now).map_err(|e| fail(format!("invalid value for \"{what}\": {e}")))).transpose();
    let o = LogOptions { follow: a.follow, tail: Some(a.tail.clone()), timestamps: a.timestamps, since: time(&a.since, "since")?, until: time(&a.until, "until")? };
    let names: Vec<String> = list.iter().map(|c| c.short_name()).collect();
    let printer = LogPrinter::new(names.iter().map(String::as_str), use_colour(&p.ansi, a.no_color), !a.no_log_prefix);
    let results: Vec<Result<(), String>> = if a.follow {
        std::thread::scope(|s| {
            let hs: Vec<_> = list.iter().map(|c| s.spawn(|| logs::stream(&e.client, c, &o, &printer).map_err(|e| e.to_string()))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("log reader panicked".into()))).collect()
        })
    } else {
        list.iter().map(|c| logs::stream(&e.client, c, &o, &printer).map_err(|e| e.to_string())).collect()
    };
    results.into_iter().collect::<Result<(), String>>().map_err(fail)
}
