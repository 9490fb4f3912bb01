//! `version`, `info` / `system info`.

use berth_api::models::{SystemInfo, SystemVersion};
use berth_api::version::API_VERSION;
use clap::Args;
use serde_json::Value;

use super::{client, fail};
use crate::template::Template;
use crate::{CmdResult, Global};

#[derive(Args)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
}

#[derive(Args)]
pub struct InfoArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

pub fn version(g: &Global, a: VersionArgs) -> CmdResult {
    let c = client(g)?;
    let server = c.get_json::<Value>("/version");
    let client_info = serde_json::json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "Os": "linux",
        "Arch": arch(),
        "Context": "default",
    });
    if let Some(f) = a.format.as_deref() {
        let data = serde_json::json!({"Client": client_info, "Server": server.as_ref().ok()});
        let f = if f == "json" { "{{json .}}" } else { f };
        let t = Template::parse(f).map_err(|e| fail(e.to_string()))?;
        println!("{}", t.render(&data).map_err(|e| fail(e.to_string()))?);
        return server.map(|_| ()).map_err(Into::into);
    }
    println!("Client:");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(" API version:       {API_VERSION}");
    println!(" OS/Arch:           linux/{}", arch());
    println!(" Context:           default");
    let server: SystemVersion = serde_json::from_value(server?).map_err(|e| fail(format!("cannot decode the daemon's version: {e}")))?;
    println!();
    println!("Server: {}", server.platform.as_ref().map(|p| p.name.as_str()).unwrap_or(""));
    for comp in server.components.unwrap_or_default() {
        let d = comp.details.unwrap_or_default();
        let get = |k: &str| d.get(k).cloned().unwrap_or_default();
        println!(" {}:", comp.name);
        println!("  Version:          {}", comp.version);
        if comp.name == "Engine" {
            println!("  API version:      {} (minimum version {})", get("ApiVersion"), get("MinAPIVersion"));
            println!("  Rust version:     {}", get("GoVersion"));
            println!("  Git commit:       {}", get("GitCommit"));
            println!("  Built:            {}", get("BuildTime"));
            println!("  OS/Arch:          {}/{}", get("Os"), get("Arch"));
            println!("  Experimental:     {}", get("Experimental"));
        }
    }
    Ok(())
}

pub fn info(g: &Global, a: InfoArgs) -> CmdResult {
    let c = client(g)?;
    let raw: Value = c.get_json("/info")?;
    if let Some(f) = a.format.as_deref() {
        let f = if f == "json" { "{{json .}}" } else { f };
        let t = Template::parse(f).map_err(|e| fail(e.to_string()))?;
        println!("{}", t.render(&raw).map_err(|e| fail(e.to_string()))?);
        return Ok(());
    }
    let i: SystemInfo = serde_json::from_value(raw).map_err(|e| fail(format!("cannot decode the daemon's info: {e}")))?;
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let n = |v: &Option<i64>| v.unwrap_or(0);
    println!("Client:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!(" Context:    default");
    println!(" Debug Mode: {}", g.debug);
    println!();
    println!("Server:");
    println!(" Containers: {}", n(&i.containers));
    println!("  Running: {}", n(&i.containers_running));
    println!("  Paused: {}", n(&i.containers_paused));
    println!("  Stopped: {}", n(&i.containers_stopped));
    println!(" Images: {}", n(&i.images));
    println!(" Server Version: {}", s(&i.server_version));
    println!(" Storage Driver: {}", s(&i.driver));
    for kv in i.driver_status.clone().unwrap_or_default() {
        if kv.len() == 2 {
            println!("  {}: {}", kv[0], kv[1]);
        }
    }
    println!(" Logging Driver: {}", s(&i.logging_driver));
    println!(" Cgroup Driver: {}", i.cgroup_driver.map(|d| d.to_string()).unwrap_or_default());
    println!(" Cgroup Version: {}", i.cgroup_version.map(|d| d.to_string()).unwrap_or_default());
    println!(" Default Runtime: {}", s(&i.default_runtime));
    if let Some(opts) = &i.security_options {
        println!(" Security Options:");
        for o in opts {
            for part in o.split(',') {
                match part.strip_prefix("name=") {
                    Some(name) => println!("  {name}"),
                    None => println!("   {}", part.replace('=', ": ").replacen("profile", "Profile", 1)),
                }
            }
        }
    }
    println!(" Kernel Version: {}", s(&i.kernel_version));
    println!(" Operating System: {}", s(&i.operating_system));
    println!(" OSType: {}", s(&i.os_type));
    println!(" Architecture: {}", s(&i.architecture));
    println!(" CPUs: {}", n(&i.ncpu));
    println!(" Total Memory: {}", human_binary(n(&i.mem_total) as f64));
    println!(" Name: {}", s(&i.name));
    println!(" ID: {}", s(&i.id));
    println!(" Berth Root Dir: {}", s(&i.docker_root_dir));
    println!(" Debug Mode: {}", i.debug.unwrap_or(false));
    println!(" Experimental: {}", i.experimental_build.unwrap_or(false));
    println!(" Live Restore Enabled: {}", i.live_restore_enabled.unwrap_or(false));
    for w in i.warnings.unwrap_or_default() {
        eprintln!("{w}");
    }
    Ok(())
}

/// `units.BytesSize`: binary units with 4 significant digits (`23.47GiB`).
fn human_binary(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    let s = format!("{size:.2}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
    format!("{s}{}", UNITS[i])
}

#[derive(Args)]
pub struct DfArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(long = "format")]
    format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
}

/// `system df`: docker's summary table (TYPE TOTAL ACTIVE SIZE RECLAIMABLE) from /system/df.
pub fn df(g: &Global, a: DfArgs) -> CmdResult {
    let d: Value = client(g)?.get_json("/system/df")?;
    let empty = Vec::new();
    let images = d["Images"].as_array().unwrap_or(&empty);
    let containers = d["Containers"].as_array().unwrap_or(&empty);
    let volumes = d["Volumes"].as_array().unwrap_or(&empty);
    let i64_of = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0).max(0);
    let reclaim = |r: i64, total: i64| {
        if total > 0 {
            format!("{} ({}%)", crate::units::human_size(r as f64), r * 100 / total)
        } else {
            crate::units::human_size(r as f64)
        }
    };
    let img_active = images.iter().filter(|i| i64_of(i, "Containers") > 0).count();
    let img_size = d["LayersSize"].as_i64().unwrap_or_else(|| images.iter().map(|i| i64_of(i, "Size")).sum());
    let img_unused: i64 = images.iter().filter(|i| i64_of(i, "Containers") == 0).map(|i| i64_of(i, "Size")).sum();
    let running = |c: &Value| c["State"].as_str() == Some("running") || c["State"].as_str() == Some("paused");
    let ctr_size: i64 = containers.iter().map(|c| i64_of(c, "SizeRw")).sum();
    let ctr_idle: i64 = containers.iter().filter(|c| !running(c)).map(|c| i64_of(c, "SizeRw")).sum();
    let vol_bytes = |v: &Value| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0);
    let vol_refs = |v: &Value| v["UsageData"]["RefCount"].as_i64().unwrap_or(0);
    let vol_size: i64 = volumes.iter().map(vol_bytes).sum();
    let vol_unused: i64 = volumes.iter().filter(|v| vol_refs(v) == 0).map(vol_bytes).sum();
    let cache = d["BuildCache"].as_array().unwrap_or(&empty);
    let cache_used = |c: &&Value| c["InUse"].as_bool().unwrap_or(false);
    let cache_size: i64 = cache.iter().map(|c| i64_of(c, "Size")).sum();
    let cache_free: i64 = cache.iter().filter(|c| !cache_used(c)).map(|c| i64_of(c, "Size")).sum();
    let rows = vec![
        serde_json::json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": img_active.to_string(), "Size": crate::units::human_size(img_size as f64), "Reclaimable": reclaim(img_unused, img_size)}),
        serde_json::json!({"Type": "Containers", "TotalCount": containers.len().to_string(), "Active": containers.iter().filter(|c| running(c)).count().to_string(), "Size": crate::units::human_size(ctr_size as f64), "Reclaimable": reclaim(ctr_idle, ctr_size)}),
        serde_json::json!({"Type": "Local Volumes", "TotalCount": volumes.len().to_string(), "Active": volumes.iter().filter(|v| vol_refs(v) > 0).count().to_string(), "Size": crate::units::human_size(vol_size as f64), "Reclaimable": reclaim(vol_unused, vol_size)}),
        serde_json::json!({"Type": "Build Cache", "TotalCount": cache.len().to_string(), "Active": cache.iter().filter(cache_used).count().to_string(), "Size": crate::units::human_size(cache_size as f64), "Reclaimable": crate::units::human_size(cache_free as f64)}),
    ];
    if a.verbose {
        return df_verbose(&d, a.format.as_deref());
    }
    let headers = serde_json::json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    print!("{}", super::render(a.format.as_deref().unwrap_or(""), "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", &rows, &headers)?);
    Ok(())
}

/// `system df -v`: docker's per-object sections (images, containers, volumes, build
/// cache), or the whole response with `--format json`.
fn df_verbose(d: &Value, format: Option<&str>) -> CmdResult {
    if format == Some("json") {
        println!("{d}");
        return Ok(());
    }
    let empty = Vec::new();
    let list = |k: &str| d[k].as_array().unwrap_or(&empty).clone();
    let size = |v: &Value| crate::units::human_size(v.as_i64().unwrap_or(0).max(0) as f64);
    let images: Vec<Value> = list("Images")
        .iter()
        .flat_map(|i| {
            let tags: Vec<String> = i["RepoTags"].as_array().map(|t| t.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default();
            let tags = if tags.is_empty() { vec!["<none>:<none>".to_owned()] } else { tags };
            let id = i["Id"].as_str().unwrap_or_default().trim_start_matches("sha256:").chars().take(12).collect::<String>();
            let unique = i["Size"].as_i64().unwrap_or(0) - i["SharedSize"].as_i64().unwrap_or(0);
            tags.into_iter()
                .map(|t| {
                    let (repo, tag) = t.rsplit_once(':').unwrap_or((t.as_str(), "<none>"));
                    serde_json::json!({"Repository": repo, "Tag": tag, "ID": id, "CreatedSince": crate::units::since(i["Created"].as_i64().unwrap_or(0)), "Size": size(&i["Size"]), "SharedSize": size(&i["SharedSize"]), "UniqueSize": size(&Value::from(unique)), "Containers": i["Containers"].as_i64().unwrap_or(0).to_string()})
                })
                .collect::<Vec<_>>()
        })
        .collect();
    println!("Images space usage:\n");
    let h = serde_json::json!({"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED", "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"});
    print!("{}", super::render("", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}", &images, &h)?);
    let containers: Vec<Value> = list("Containers")
        .iter()
        .map(|c| {
            let vols = c["Mounts"].as_array().map(|m| m.iter().filter(|x| x["Type"] == "volume").count()).unwrap_or(0);
            let name = c["Names"][0].as_str().unwrap_or_default().trim_start_matches('/').to_owned();
            serde_json::json!({"ID": c["Id"].as_str().unwrap_or_default().chars().take(12).collect::<String>(), "Image": c["Image"], "Command": format!("\"{}\"", c["Command"].as_str().unwrap_or_default()), "LocalVolumes": vols.to_string(), "Size": size(&c["SizeRw"]), "CreatedSince": crate::units::since(c["Created"].as_i64().unwrap_or(0)), "Status": c["Status"], "Names": name})
        })
        .collect();
    println!("\nContainers space usage:\n");
    let h = serde_json::json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "CreatedSince": "CREATED", "Status": "STATUS", "Names": "NAMES"});
    print!("{}", super::render("", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.CreatedSince}}\t{{.Status}}\t{{.Names}}", &containers, &h)?);
    let volumes: Vec<Value> = list("Volumes")
        .iter()
        .map(|v| serde_json::json!({"Name": v["Name"], "Links": v["UsageData"]["RefCount"].as_i64().unwrap_or(0).to_string(), "Size": size(&v["UsageData"]["Size"])}))
        .collect();
    println!("\nLocal Volumes space usage:\n");
    let h = serde_json::json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"});
    print!("{}", super::render("", "table {{.Name}}\t{{.Links}}\t{{.Size}}", &volumes, &h)?);
    println!("\nBuild cache usage: 0B");
    Ok(())
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long = "volumes")]
    volumes: bool,
}

/// `system prune`: stopped containers, unused networks, unused volumes (with --volumes), dangling (or
/// all unused) images, in docker's order and words.
pub fn prune(g: &Global, a: PruneArgs) -> CmdResult {
    if !a.force {
        let mut w = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        w.push_str(if a.all { "  - all images without at least one container associated to them\n" } else { "  - all dangling images\n" });
        if !super::confirm(&w) {
            return Ok(());
        }
    }
    let mut reclaimed = super::containers::prune_containers(g, &a.filter)?;
    super::network::prune_networks(g, &a.filter)?;
    if a.volumes {
        // Volumes have no `until` filter in docker either.
        let vf: Vec<String> = a.filter.iter().filter(|f| !f.starts_with("until=")).cloned().collect();
        reclaimed += super::volume::prune_volumes(g, false, &vf)?;
    }
    reclaimed += super::images::prune_images(g, a.all, &a.filter)?;
    println!("Total reclaimed space: {}", crate::units::human_size(reclaimed as f64));
    Ok(())
}
