//! Attached `up` and `logs`: the containers' output behind their names until
//! they stop; Ctrl+C stops the project gracefully (a second one kills it).

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

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

/// The containers `logs -f` follows, shared with the thread that adds those starting.
#[derive(Clone)]
struct Followers {
    client: Client,
    printer: Arc<LogPrinter>,
    active: Arc<AtomicUsize>,
    /// Ids being followed now, and ever followed (a restarted one resumes from now).
    following: Arc<Mutex<(HashSet<String>, HashSet<String>)>>,
    done: mpsc::Sender<Result<(), String>>,
}

impl Followers {
    fn follow(&self, c: Container, o: &LogOptions) {
        let mut o = o.clone();
        {
            let mut f = self.following.lock().unwrap_or_else(|p| p.into_inner());
            if !f.0.insert(c.id.clone()) {
                return;
            }
            if !f.1.insert(c.id.clone()) {
                o.tail = None;
                o.since = Some(unix_now());
            }
        }
        self.active.fetch_add(1, Ordering::SeqCst);
        let me = self.clone();
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| logs::stream(&me.client, &c, &o, &*me.printer).map_err(|e| e.to_string())))
                .unwrap_or_else(|_| Err(format!("the log reader of {} failed", c.name)));
            me.following.lock().unwrap_or_else(|p| p.into_inner()).0.remove(&c.id);
            // The result first: the waiting side stops once none is active.
            let _ = me.done.send(r);
            me.active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// `logs -f`: follows `list` and, as docker compose does, the project's containers of
/// `services` (all when empty; none when `None`) that start while it runs — a scale-up,
/// a restart, an `up` in another terminal — from their first line (a restarted one from
/// its restart). Returns once none it follows is running.
fn follow_all(client: &Client, project: &str, services: Option<Vec<String>>, list: Vec<Container>, o: LogOptions, printer: Arc<LogPrinter>) -> Vec<Result<(), String>> {
    let (tx, rx) = mpsc::channel();
    let f = Followers { client: client.clone(), printer, active: Arc::new(AtomicUsize::new(0)), following: Arc::default(), done: tx };
    if let Some(services) = services {
        // Watching starts before the existing containers are followed, so one starting
        // in between is not missed (the set keeps it from being followed twice).
        let mut filters = berth_api::Filters::new();
        filters.add("type", "container");
        filters.add("event", "start");
        filters.add("label", &format!("{}={project}", berth_compose::labels::PROJECT));
        let path = format!("/events{}", berth_api::client::query([("filters", Some(filters.to_json()))]));
        if let Ok(resp) = client.call("GET", &path, berth_api::client::Body::Empty) {
            let (f, o, project) = (f.clone(), o.clone(), project.to_owned());
            std::thread::spawn(move || {
                for ev in serde_json::Deserializer::from_reader(resp.into_reader()).into_iter::<serde_json::Value>() {
                    let Ok(ev) = ev else { break };
                    if let Some(c) = started_container(&ev, &project, &services) {
                        f.follow(c, &o);
                    }
                }
            });
        }
    }
    for c in list {
        f.follow(c, &o);
    }
    let mut results = Vec::new();
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(r) => results.push(r),
            Err(mpsc::RecvTimeoutError::Timeout) if f.active.load(Ordering::SeqCst) == 0 => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    results.extend(rx.try_iter());
    results
}

/// The container a `start` event is about, if it is one `logs -f` follows (a service
/// container of the project, not a `run` one-off).
fn started_container(ev: &serde_json::Value, project: &str, services: &[String]) -> Option<Container> {
    use berth_compose::labels;
    let attrs = &ev["Actor"]["Attributes"];
    let label = |k: &str| attrs[k].as_str().map(str::to_owned);
    let service = label(labels::SERVICE)?;
    let oneoff = label(labels::ONEOFF).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if label(labels::PROJECT).as_deref() != Some(project) || oneoff || (!services.is_empty() && !services.contains(&service)) {
        return None;
    }
    Some(Container {
        id: ev["Actor"]["ID"].as_str()?.to_owned(),
        name: label("name")?,
        project: project.to_owned(),
        service,
        number: label(labels::CONTAINER_NUMBER).and_then(|n| n.parse().ok()).unwrap_or(0),
        oneoff,
        config_hash: label(labels::CONFIG_HASH).unwrap_or_default(),
        image_id: label(labels::IMAGE),
        state: "running".into(),
        summary: serde_json::Value::Null,
    })
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
        let services = if a.index.is_some() { None } else { Some(a.services.clone()) };
        follow_all(&e.client, &e.project.name, services, list, o, Arc::new(printer))
    } else {
        list.iter().map(|c| logs::stream(&e.client, c, &o, &printer).map_err(|e| e.to_string())).collect()
    };
    results.into_iter().collect::<Result<(), String>>().map_err(fail)
}
