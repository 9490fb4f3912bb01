//! The event stream of `/events`: every container (and image) action as Docker reports
//! it, broadcast to listeners and kept in a bounded backlog for `since`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::containers::Registry;

const BACKLOG: usize = 1024;

pub struct Events {
    tx: broadcast::Sender<Value>,
    recent: Mutex<VecDeque<Value>>,
    containers: Arc<Registry>,
    /// Last known attributes per container, so `destroy` still names it.
    attrs: Mutex<HashMap<String, serde_json::Map<String, Value>>>,
}

impl Events {
    pub fn new(containers: Arc<Registry>) -> Events {
        Events { tx: broadcast::channel(BACKLOG).0, recent: Mutex::new(VecDeque::new()), containers, attrs: Mutex::new(HashMap::new()) }
    }

    pub fn subscribe(&self) -> (Vec<Value>, broadcast::Receiver<Value>) {
        let rx = self.tx.subscribe();
        let backlog = self.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        (backlog, rx)
    }

    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    fn publish(&self, typ: &str, action: &str, id: &str, from: Option<&str>, attrs: serde_json::Map<String, Value>) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let mut ev = json!({
            "Type": typ,
            "Action": action,
            "Actor": { "ID": id, "Attributes": attrs },
            "scope": "local",
            "time": now.timestamp(),
            "timeNano": nanos,
        });
        // The pre-1.22 fields docker's CLI still prints for containers.
        if typ == "container" {
            ev["status"] = json!(action);
            ev["id"] = json!(id);
            if let Some(f) = from {
                ev["from"] = json!(f);
            }
        }
        {
            let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if r.len() == BACKLOG {
                r.pop_front();
            }
            r.push_back(ev.clone());
        }
        let _ = self.tx.send(ev);
    }

    fn container_attrs(&self, id: &str) -> (Option<String>, serde_json::Map<String, Value>) {
        let mut cache = self.attrs.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(e) = self.containers.find(id) {
            let c = e.get();
            let mut a = serde_json::Map::new();
            for (k, v) in c.config.labels.iter().flatten() {
                a.insert(k.clone(), json!(v));
            }
            a.insert("image".into(), json!(c.image));
            a.insert("name".into(), json!(c.name));
            cache.insert(id.to_owned(), a);
        }
        let a = cache.get(id).cloned().unwrap_or_default();
        let from = a.get("image").and_then(|v| v.as_str()).map(str::to_owned);
        (from, a)
    }

    pub fn container(&self, id: &str, action: &str) {
        let (from, attrs) = self.container_attrs(id);
        self.publish("container", action, id, from.as_deref(), attrs);
        if action == "destroy" {
            self.attrs.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        }
    }

    /// `image tag|build …` with the image's name.
    pub fn image(&self, id: &str, name: &str, action: &str) {
        let mut attrs = serde_json::Map::new();
        attrs.insert("name".into(), json!(name));
        self.publish("image", action, id, None, attrs);
    }

    /// `volume create|destroy|prune`.
    pub fn volume(&self, name: &str, action: &str) {
        let mut attrs = serde_json::Map::new();
        if !name.is_empty() {
            attrs.insert("driver".into(), json!("local"));
        }
        self.publish("volume", action, name, None, attrs);
    }

    /// `secret create|update|remove`, with its name (never its value).
    pub fn secret(&self, id: &str, name: &str, action: &str) {
        let mut attrs = serde_json::Map::new();
        attrs.insert("name".into(), json!(name));
        self.publish("secret", action, id, None, attrs);
    }

    /// `network create|destroy`.
    pub fn network(&self, id: &str, name: &str, action: &str) {
        let mut attrs = serde_json::Map::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("type".into(), json!("bridge"));
        self.publish("network", action, id, None, attrs);
    }

    /// `network connect|disconnect` of a container.
    pub fn network_container(&self, id: &str, name: &str, action: &str, container: &str) {
        let mut attrs = serde_json::Map::new();
        attrs.insert("container".into(), json!(container));
        attrs.insert("name".into(), json!(name));
        attrs.insert("type".into(), json!("bridge"));
        self.publish("network", action, id, None, attrs);
    }

    pub fn container_die(&self, id: &str, code: i32) {
        let (from, mut attrs) = self.container_attrs(id);
        attrs.insert("exitCode".into(), json!(code.to_string()));
        self.publish("container", "die", id, from.as_deref(), attrs);
    }

    pub fn container_signal(&self, id: &str, action: &str, sig: i32) {
        let (from, mut attrs) = self.container_attrs(id);
        attrs.insert("signal".into(), json!(sig.to_string()));
        self.publish("container", action, id, from.as_deref(), attrs);
    }

    pub fn container_exec(&self, id: &str, action: &str, exec_id: &str) {
        let (from, mut attrs) = self.container_attrs(id);
        attrs.insert("execID".into(), json!(exec_id));
        self.publish("container", action, id, from.as_deref(), attrs);
    }

    pub fn container_exec_die(&self, id: &str, exec_id: &str, code: i32) {
        let (from, mut attrs) = self.container_attrs(id);
        attrs.insert("execID".into(), json!(exec_id));
        attrs.insert("exitCode".into(), json!(code.to_string()));
        self.publish("container", "exec_die", id, from.as_deref(), attrs);
    }
}
