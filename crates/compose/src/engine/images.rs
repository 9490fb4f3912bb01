//! Images of a project: which to pull or build before containers are made
//! (per `pull_policy`, `--pull`, `--build`), `build` through the builder the
//! CLI supplies, `compose images` and the list `compose push` sends.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use berth_api::client::encode;
use serde_json::Value;

use super::api;
use super::body::image_name;
use super::error::{EngineError, Result};
use super::{Engine, Kind};
use crate::model::Service;

/// How `up`/`create`/`run` get images.
#[derive(Debug, Clone, Default)]
pub struct ImagePolicy {
    /// `--build`: build every service that has a `build:` section.
    pub build: bool,
    /// `--no-build`: never build, even a missing image.
    pub no_build: bool,
    /// `--pull always|missing|never|build` overriding each service's `pull_policy`.
    pub pull: Option<String>,
}

/// `docker compose build` options.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub no_cache: bool,
    pub pull: bool,
    /// `--build-arg K=V` on top of the service's `args`.
    pub args: BTreeMap<String, String>,
    pub quiet: bool,
}

/// One service's `build:`, resolved, for the builder.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The tag to give the image.
    pub image: String,
    pub context: PathBuf,
    /// Absolute path of the Dockerfile (`None`: the context's `Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// `dockerfile_inline`: the Dockerfile's text.
    pub dockerfile_inline: Option<String>,
    pub args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub cache_from: Vec<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub quiet: bool,
}

/// Builds an image; the CLI supplies berth's `build`.
pub type Builder = dyn Fn(&berth_api::Client, &BuildRequest) -> std::result::Result<(), String> + Send + Sync;

/// One row of `compose images`.
#[derive(Debug, Clone)]
pub struct ImageRow {
    pub container: String,
    pub service: String,
    pub repository: String,
    pub tag: String,
    pub id: String,
    pub size: i64,
}

impl Engine {
    /// The id of a local image, `None` when there is none.
    pub fn image_id(&self, name: &str) -> Result<Option<String>> {
        match api::get::<Value>(&self.client, &format!("/images/{}/json", encode(name)), || format!("inspecting image {name}")) {
            Ok(v) => Ok(v["Id"].as_str().map(str::to_owned)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Makes sure every service of `services` has its image (building or
    /// pulling as its policy says); returns service → image id.
    pub(crate) fn ensure_images(&self, services: &BTreeSet<String>, policy: &ImagePolicy) -> Result<BTreeMap<String, String>> {
        let mut ids = BTreeMap::new();
        for name in services {
            let Some(svc) = self.project.services.get(name) else { continue };
            let image = image_name(&self.project, svc);
            let pull = policy.pull.clone().or_else(|| svc.pull_policy.clone()).unwrap_or_else(|| "missing".into());
            let mut id = self.image_id(&image)?;
            let wants_build = svc.build.is_some() && !policy.no_build && (policy.build || pull == "build" || id.is_none());
            if wants_build {
                self.build_service(svc, &BuildOptions::default())?;
            } else if pull == "always" || (id.is_none() && pull != "never") {
                if id.is_none() && svc.build.is_some() {
                    return Err(EngineError::service(name, format!("image {image} not found and --no-build given")));
                }
                self.pull_image(&image)?;
            } else if id.is_none() {
                return Err(EngineError::service(name, format!("image {image} not found and pull_policy is never")));
            }
            if wants_build || pull == "always" || id.is_none() {
                id = self.image_id(&image)?;
            }
            let id = id.ok_or_else(|| EngineError::service(name, format!("image {image} is still missing after the pull")))?;
            ids.insert(name.clone(), id);
        }
        Ok(ids)
    }

    fn pull_image(&self, image: &str) -> Result<()> {
        let puller = self.puller.clone().ok_or_else(|| EngineError::Other(format!("image {image} is missing and there is no way to pull it")))?;
        self.event(Kind::Image, image, "Pulling");
        puller(&self.client, image).map_err(|m| EngineError::Other(format!("pulling {image}: {m}")))?;
        self.event(Kind::Image, image, "Pulled");
        Ok(())
    }

    /// `compose pull`: the images of `services` (all when empty), except those
    /// that are built (when `ignore_buildable`). Failures are warnings with
    /// `ignore_failures`.
    pub fn pull(&self, services: &[String], ignore_buildable: bool, ignore_failures: bool) -> Result<()> {
        for svc in self.project.services.values().filter(|s| services.is_empty() || services.contains(&s.name)) {
            if svc.image.is_none() || (ignore_buildable && svc.build.is_some()) || svc.pull_policy.as_deref() == Some("build") {
                continue;
            }
            match self.pull_image(&image_name(&self.project, svc)) {
                Ok(()) => {}
                // A service that is built may not be in any registry yet.
                Err(e) if ignore_failures || svc.build.is_some() => self.warn(&e.to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `compose build`: every service of `services` (all when empty) with a `build:` section.
    pub fn build(&self, services: &[String], opts: &BuildOptions) -> Result<()> {
        for svc in self.project.services.values().filter(|s| services.is_empty() || services.contains(&s.name)) {
            if svc.build.is_some() {
                self.build_service(svc, opts)?;
            }
        }
        Ok(())
    }

    /// Builds one service's image with the builder the CLI supplied (berth's
    /// own `build`: `.dockerignore`, the context streamed to `POST /build`).
    fn build_service(&self, svc: &Service, opts: &BuildOptions) -> Result<()> {
        let Some(b) = &svc.build else { return Ok(()) };
        let image = image_name(&self.project, svc);
        if b.context.contains("://") || b.context.starts_with("git@") {
            return Err(EngineError::service(&svc.name, format!("build: remote context {} is not supported by berth compose yet", b.context)));
        }
        let context = PathBuf::from(&b.context);
        if !context.is_dir() {
            return Err(EngineError::service(&svc.name, format!("build: context {} is not a directory", context.display())));
        }
        let mut args: BTreeMap<String, String> = b.args.iter().filter_map(|(k, v)| v.clone().or_else(|| self.project.meta.environment.get(k).cloned()).map(|v| (k.clone(), v))).collect();
        args.extend(opts.args.clone());
        let mut labels = b.labels.clone();
        labels.insert(crate::labels::PROJECT.into(), self.project.name.clone());
        labels.insert(crate::labels::SERVICE.into(), svc.name.clone());
        let req = BuildRequest {
            image: image.clone(),
            // compose's `dockerfile` is relative to the context.
            dockerfile: b.dockerfile.as_ref().map(|d| context.join(d)),
            dockerfile_inline: b.dockerfile_inline.clone(),
            context,
            args,
            labels,
            target: b.target.clone(),
            cache_from: b.extra.get("cache_from").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect(),
            no_cache: opts.no_cache,
            pull: opts.pull,
            quiet: opts.quiet,
        };
        let builder = self.builder.clone().ok_or_else(|| EngineError::service(&svc.name, "build: no builder available"))?;
        self.event(Kind::Image, &image, "Building");
        builder(&self.client, &req).map_err(|m| EngineError::service(&svc.name, format!("build: {m}")))?;
        self.event(Kind::Image, &image, "Built");
        Ok(())
    }

    /// `compose images`: the image of each of the project's containers.
    pub fn images(&self, services: &[String]) -> Result<Vec<ImageRow>> {
        let mut rows = Vec::new();
        for c in self.containers(services, super::OneOff::Include, true)? {
            let image_id = c.summary["ImageID"].as_str().unwrap_or("").to_owned();
            let info: Value = match api::get(&self.client, &format!("/images/{}/json", encode(&image_id)), || format!("inspecting image {image_id}")) {
                Ok(v) => v,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            let tag_ref = info["RepoTags"].as_array().and_then(|t| t.first()).and_then(Value::as_str).unwrap_or("<none>:<none>").to_owned();
            let (repository, tag) = match tag_ref.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_owned(), t.to_owned()),
                _ => (tag_ref.clone(), "<none>".to_owned()),
            };
            rows.push(ImageRow { container: c.name.clone(), service: c.service.clone(), repository, tag, id: image_id, size: info["Size"].as_i64().unwrap_or(0) });
        }
        Ok(rows)
    }

    /// Images `compose push` sends: services that are built and name an image.
    pub fn push_list(&self, services: &[String]) -> Vec<String> {
        self.project.services.values().filter(|s| services.is_empty() || services.contains(&s.name)).filter(|s| s.build.is_some() && s.image.is_some()).map(|s| image_name(&self.project, s)).collect()
    }
}
