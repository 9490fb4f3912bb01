//! End to end, networking (issue 5), real networking on loopback and the tests' own
//! subnets (10.231.x.0/24, one random x per network): network create/ls/inspect/rm,
//! bad input leaving nothing behind, busybox httpd published with -p and fetched from
//! the host, name resolution and isolation between user networks, --internal,
//! --network none, -P with `port`, UDP publish, live connect/disconnect, a host port in
//! use, and a teardown leak check (veths, bridges, netns files, nft rules).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::Daemon;

fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
    d
}

/// A number unique to this test run and call, for names and subnets.
fn uniq() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    (t ^ std::process::id().wrapping_mul(2654435761)).wrapping_add(N.fetch_add(1, Ordering::SeqCst).wrapping_mul(7919))
}

/// A fresh name and a /24 in 10.231.0.0/16 nobody else in this process uses.
fn fresh_net(prefix: &str) -> (String, String, u32) {
    static USED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
    let mut used = USED.lock().unwrap();
    let mut x = uniq() % 250 + 1;
    while used.contains(&x) {
        x = x % 250 + 1;
    }
    used.push(x);
    (format!("{prefix}{:x}", uniq() % 0xffffff), format!("10.231.{x}.0/24"), x)
}

fn fails(d: &Daemon, args: &[&str]) -> (i32, String) {
    let out = d.berth(args).output();
    assert!(!out.status.success(), "berth {args:?} should have failed; stdout: {}", String::from_utf8_lossy(&out.stdout));
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn networks(d: &Daemon) -> Vec<String> {
    d.berth(&["network", "ls", "--format", "{{.Name}}"]).ok().lines().map(str::to_owned).collect()
}

/// A port nobody listens on right now (the kernel picks it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET / from 127.0.0.1:port with a plain TcpStream, retried until `limit` (the
/// server in the container may still be starting); returns the body.
fn http_get(port: u16, limit: Duration) -> Result<String, String> {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    while Instant::now() < deadline {
        match TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut resp = String::new();
                match s.read_to_string(&mut resp) {
                    Ok(_) if resp.starts_with("HTTP/1.") => {
                        return Ok(resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default());
                    }
                    Ok(_) => last = format!("unexpected response: {resp:?}"),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

/// busybox httpd serving `body` as index.html on port 80, in the foreground.
fn httpd(body: &str) -> String {
    format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// A shell snippet for busybox that GETs http://HOST/ and prints the body's last line,
/// retried `tries` times (0.2 s apart), exit 1 if nothing came. Debian's static busybox
/// wget segfaults (also on the host), so this speaks HTTP over `nc`.
fn fetch_in(host: &str, tries: u32) -> String {
    format!("for i in $(seq {tries}); do out=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} 80 | tail -n 1); [ -n \"$out\" ] && {{ echo \"$out\"; exit 0; }}; sleep 0.2; done; exit 1")
}

/// `ip -o link` names on the host.
fn host_links() -> Vec<String> {
    let out = Command::new("ip").args(["-o", "link", "show"]).output().expect("ip -o link");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split(": ").nth(1)).map(|n| n.split('@').next().unwrap_or(n).to_owned()).collect()
}

/// Host veths enslaved to a bridge.
fn veths_on(bridge: &str) -> Vec<String> {
    let out = Command::new("ip").args(["-o", "link", "show", "master", bridge]).output().expect("ip link show master");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split(": ").nth(1)).map(|n| n.split('@').next().unwrap_or(n).to_owned()).collect()
}

/// The host bridge of a user network (`com.docker.network.bridge.name`, else br-<id12>).
fn bridge_of(d: &Daemon, net: &str) -> String {
    let out = d.berth(&["network", "inspect", "-f", "{{.Id}} {{index .Options \"com.docker.network.bridge.name\"}}", net]).ok();
    let mut parts = out.split_whitespace();
    let id = parts.next().unwrap_or_default().to_owned();
    match parts.next() {
        Some(b) if !b.is_empty() && b != "<no" => b.to_owned(),
        _ => format!("br-{}", &id[..12]),
    }
}

fn ip_on(d: &Daemon, container: &str, net: &str) -> String {
    let nets: serde_json::Value = serde_json::from_str(&d.berth(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", container]).ok()).unwrap();
    nets[net]["IPAddress"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn network_create_ls_inspect_rm_round_trip() {
    let d = daemon_with_busybox();
    let (name, subnet, x) = fresh_net("rt");
    let gw = format!("10.231.{x}.254");
    let range = format!("10.231.{x}.128/25");
    let id = d.berth(&["network", "create", "--subnet", &subnet, "--gateway", &gw, "--ip-range", &range, "--label", "team=net", "-o", "com.example.x=1", &name]).ok();
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64, "create prints the full id: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    // ls: docker's table, ID truncated to 12; -q; --no-trunc; filters.
    let table = d.berth(&["network", "ls"]).ok();
    let header: Vec<&str> = table.lines().next().unwrap().split("  ").map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(header, ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]);
    let line = table.lines().find(|l| l.contains(&name)).unwrap_or_else(|| panic!("{name} not listed:\n{table}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols, [&id[..12], name.as_str(), "bridge", "local"]);
    for builtin in ["bridge", "host", "none"] {
        assert!(networks(&d).contains(&builtin.to_owned()), "{builtin} is predefined, as docker's");
    }
    assert!(d.berth(&["network", "ls", "-q"]).ok().lines().any(|l| l == &id[..12]));
    assert!(d.berth(&["network", "ls", "-q", "--no-trunc"]).ok().lines().any(|l| l == id));
    assert_eq!(d.berth(&["network", "ls", "-f", "label=team=net", "--format", "{{.Name}}"]).ok(), format!("{name}\n"));
    assert_eq!(d.berth(&["network", "ls", "-f", &format!("name={name}"), "-q"]).ok(), format!("{}\n", &id[..12]));
    assert_eq!(d.berth(&["network", "ls", "-f", "driver=null", "--format", "{{.Name}}"]).ok(), "none\n");

    // inspect: Docker's shape.
    let fmt = "{{.Name}} {{.Id}} {{.Driver}} {{.Scope}} {{.Internal}} {{.IPAM.Driver}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}}{{end}} {{.Labels.team}} {{index .Options \"com.example.x\"}}";
    assert_eq!(d.berth(&["network", "inspect", "-f", fmt, &name]).ok().trim(), format!("{name} {id} bridge local false default {subnet} {gw} {range} net 1"));
    let json: serde_json::Value = serde_json::from_str(&d.berth(&["network", "inspect", &name]).ok()).unwrap();
    assert_eq!(json[0]["Id"], id.as_str());
    assert!(json[0]["Containers"].is_object(), "Containers is an object: {json}");
    // by id prefix too, and the generic inspect.
    assert_eq!(d.berth(&["network", "inspect", "-f", "{{.Name}}", &id[..12]]).ok().trim(), name);
    assert_eq!(d.berth(&["inspect", "-f", "{{.Name}}", &name]).ok().trim(), name);
    let (code, err) = fails(&d, &["network", "inspect", "nope-net-x"]);
    assert_eq!((code, err.trim()), (1, "Error: No such network: nope-net-x"));

    // The real docker CLI sees the same network.
    if let Some(r) = d.docker(&["network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", &name]) {
        assert_eq!(r.ok().trim(), format!("{name} {subnet}"));
    }

    // rm prints the name; a second rm fails; -f ignores the missing one.
    assert_eq!(d.berth(&["network", "rm", &name]).ok(), format!("{name}\n"));
    assert!(!networks(&d).contains(&name));
    let (code, err) = fails(&d, &["network", "rm", &name]);
    assert_eq!(code, 1);
    assert!(err.contains("not found") || err.contains("No such network"), "{err}");
    d.berth(&["network", "rm", "-f", &name]).ok();
    // The predefined networks cannot go.
    let (_, err) = fails(&d, &["network", "rm", "bridge"]);
    assert!(err.contains("pre-defined") || err.contains("predefined"), "{err}");
}

#[test]
fn bad_network_input_is_refused_and_leaves_nothing() {
    let d = daemon_with_busybox();
    let before = networks(&d);
    let (n1, s1, x) = fresh_net("bad");

    // Invalid CIDRs (the daemon checks one subnet alone, as docker's).
    for bad in ["10.231.0.0/33", "nonsense", "10.231.300.0/24"] {
        let (code, err) = fails(&d, &["network", "create", "--subnet", bad, &n1]);
        assert_eq!(code, 1, "{err}");
        assert!(err.to_lowercase().contains("invalid"), "invalid subnet {bad}: {err}");
    }
    // A gateway outside its subnet: the CLI says so (docker's words) ...
    let (_, err) = fails(&d, &["network", "create", "--subnet", &s1, "--gateway", "10.9.9.1", &n1]);
    assert!(err.contains("no matching subnet for gateway 10.9.9.1"), "{err}");
    // ... and the daemon refuses it from any client.
    let body = format!(r#"{{"Name":"{n1}","Driver":"bridge","IPAM":{{"Driver":"default","Config":[{{"Subnet":"{s1}","Gateway":"10.9.9.1"}}]}}}}"#);
    let (status, resp) = d.post_json("/networks/create", &body);
    assert!((400..500).contains(&status), "gateway outside the subnet: {status} {resp}");
    let (_, err) = fails(&d, &["network", "create", "--gateway", "10.231.1.1", &n1]);
    assert!(err.contains("every ip-range or gateway must have a corresponding subnet"), "{err}");
    assert_eq!(networks(&d), before, "nothing created by bad input");

    // Overlapping subnets, a name in use.
    d.berth(&["network", "create", "--subnet", &s1, &n1]).ok();
    let (n2, _, _) = fresh_net("bad");
    let (_, err) = fails(&d, &["network", "create", "--subnet", &format!("10.231.{x}.128/25"), &n2]);
    assert!(err.to_lowercase().contains("overlap"), "overlapping subnet: {err}");
    let (_, err) = fails(&d, &["network", "create", &n1]);
    assert!(err.contains("already exists"), "name in use: {err}");
    assert!(!networks(&d).contains(&n2));

    // A network with a container attached cannot go; it stays whole.
    d.berth(&["run", "-d", "--name", "holder", "--network", &n1, "busybox", "sleep", "60"]).ok();
    let (_, err) = fails(&d, &["network", "rm", &n1]);
    assert!(err.contains("active endpoints") || err.contains("in use"), "rm with an attached container: {err}");
    assert!(networks(&d).contains(&n1));
    assert!(!ip_on(&d, "holder", &n1).is_empty());
    // prune keeps it too.
    d.berth(&["network", "prune", "-f"]).ok();
    assert!(networks(&d).contains(&n1));
    d.berth(&["rm", "-f", "holder"]).ok();
    d.berth(&["network", "rm", &n1]).ok();

    // Malformed -p / --network values: docker's usage errors, nothing created.
    let (code, err) = fails(&d, &["run", "--rm", "-p", "x", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("invalid containerPort: x"), "{err}");
    let (code, err) = fails(&d, &["run", "--rm", "-p", "127.0.0.1:99999:80", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("invalid hostPort: 99999"), "{err}");
    let (code, _) = fails(&d, &["run", "--rm", "--network-alias", "a", "busybox", "true"]);
    assert_eq!(code, 125);
    // An unknown network is the daemon's 404.
    let (_, err) = fails(&d, &["run", "--rm", "--network", "no-such-net-x", "busybox", "true"]);
    assert!(err.contains("not found"), "{err}");
    assert_eq!(d.berth(&["ps", "-aq"]).ok(), "", "no container left by bad input");
    assert_eq!(networks(&d), before);
}

#[test]
fn published_port_serves_the_host_over_loopback() {
    let d = daemon_with_busybox();
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    d.berth(&["run", "-d", "--name", "web", "-p", &spec, "busybox", "sh", "-c", &httpd("hello-from-berth")]).ok();
    assert_eq!(http_get(port, Duration::from_secs(15)).expect("GET through -p"), "hello-from-berth\n");
    // Reported as docker reports it.
    assert_eq!(d.berth(&["port", "web"]).ok(), format!("80/tcp -> 127.0.0.1:{port}\n"));
    assert_eq!(d.berth(&["port", "web", "80"]).ok(), format!("127.0.0.1:{port}\n"));
    assert_eq!(d.berth(&["port", "web", "80/tcp"]).ok(), format!("127.0.0.1:{port}\n"));
    let (_, err) = fails(&d, &["port", "web", "81"]);
    assert_eq!(err.trim(), "Error: No public port '81' published for web");
    let ports = d.berth(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]).ok();
    let ports: serde_json::Value = serde_json::from_str(&ports).unwrap();
    assert_eq!(ports["80/tcp"], serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": port.to_string()}]));
    let ps = d.berth(&["ps", "--format", "{{.Ports}}"]).ok();
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "ps shows the port: {ps}");

    // The same host port again is refused before the second container starts.
    let (_, err) = fails(&d, &["run", "-d", "--name", "web2", "-p", &spec, "busybox", "sleep", "60"]);
    assert!(err.contains("already allocated") || err.contains("in use"), "{err}");
    let running = d.berth(&["ps", "-q", "--filter", "name=web2"]).ok();
    assert_eq!(running, "", "web2 must not run");
    // After the first goes, the port is free again (and served by the new one).
    d.berth(&["rm", "-f", "web"]).ok();
    let _ = d.berth(&["rm", "-f", "web2"]).output();
    d.berth(&["run", "-d", "--name", "web3", "-p", &spec, "busybox", "sh", "-c", &httpd("again")]).ok();
    assert_eq!(http_get(port, Duration::from_secs(15)).expect("GET after re-publish"), "again\n");
    d.berth(&["rm", "-f", "web3"]).ok();
    assert!(http_get(port, Duration::from_millis(500)).is_err(), "nothing serves the port after rm");
}

#[test]
fn host_port_in_use_is_refused_before_start() {
    let d = daemon_with_busybox();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let (_, err) = fails(&d, &["run", "-d", "--name", "busy", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sleep", "60"]);
    assert!(err.contains("address already in use") || err.contains("already allocated") || err.contains("in use"), "{err}");
    assert_eq!(d.berth(&["ps", "-q"]).ok(), "", "the container did not start");
    let state = d.berth(&["inspect", "-f", "{{.State.Status}}", "busy"]).ok();
    assert_ne!(state.trim(), "running");
    drop(held);
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name() {
    let d = daemon_with_busybox();
    let (net, subnet, _) = fresh_net("un");
    d.berth(&["network", "create", "--subnet", &subnet, &net]).ok();
    d.berth(&["run", "-d", "--name", "web", "--network", &net, "--network-alias", "www", "busybox", "sh", "-c", &httpd("by-name")]).ok();
    let ip = ip_on(&d, "web", &net);
    assert!(ip.starts_with(&subnet[..subnet.len() - 4]), "web's address {ip} is in {subnet}");
    assert_eq!(d.berth(&["run", "--rm", "--network", &net, "busybox", "sh", "-c", &fetch_in("web", 50)]).ok(), "by-name\n");
    assert_eq!(d.berth(&["run", "--rm", "--network", &net, "busybox", "sh", "-c", &fetch_in("www", 1)]).ok(), "by-name\n", "alias");
    let ns = d.berth(&["run", "--rm", "--network", &net, "busybox", "nslookup", "web"]).ok();
    assert!(ns.contains(&ip), "nslookup web gives {ip}: {ns}");
    let ns = d.berth(&["run", "--rm", "--network", &net, "busybox", "nslookup", &format!("web.{net}")]).ok();
    assert!(ns.contains(&ip), "nslookup web.{net} (<name>.<network>) gives {ip}: {ns}");
    let resolv = d.berth(&["run", "--rm", "--network", &net, "busybox", "cat", "/etc/resolv.conf"]).ok();
    assert!(resolv.contains("nameserver 127.0.0.11"), "embedded DNS: {resolv}");
    // Unknown names fail to resolve.
    let out = d.berth(&["run", "--rm", "--network", &net, "busybox", "nslookup", "no-such-container-x"]).output();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&ip));
    d.berth(&["rm", "-f", "web"]).ok();
    d.berth(&["network", "rm", &net]).ok();
}

/// A one-answer DNS server on a host loopback address, port 53: every A query gets
/// `answer`. Stops when the returned flag is set (its socket times out every 200 ms).
/// The thread returns the names it was asked (any type).
fn fake_resolver(answer: [u8; 4]) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<Vec<String>>) {
    let ip = format!("127.213.{}.{}", uniq() % 250 + 1, uniq() % 250 + 1);
    let sock = UdpSocket::bind((ip.as_str(), 53)).expect("binding a fake resolver on a loopback address");
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let t = std::thread::spawn(move || {
        let mut asked = Vec::new();
        let mut buf = [0u8; 512];
        while !stop2.load(Ordering::Relaxed) {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else { continue };
            // Header (id kept; QR, RD, RA; one question, one answer), the question as
            // asked, then an A record pointing back at the question's name (0xc00c).
            let q = &buf[..n];
            let Some(qend) = q[12..].iter().position(|b| *b == 0).map(|p| 12 + p + 5) else { continue };
            let mut name = Vec::new();
            let mut i = 12;
            while i < n && q[i] != 0 && i + 1 + usize::from(q[i]) <= n {
                name.push(String::from_utf8_lossy(&q[i + 1..i + 1 + usize::from(q[i])]).into_owned());
                i += 1 + usize::from(q[i]);
            }
            asked.push(name.join("."));
            if qend > n || q[qend - 4..qend - 2] != [0, 1] {
                let mut r = q[..qend.min(n)].to_vec();
                r[2] = 0x81;
                r[3] = 0x80;
                let _ = sock.send_to(&r, peer); // not A: an empty answer
                continue;
            }
            let mut r = Vec::from(&q[..2]);
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..qend]);
            r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
            r.extend_from_slice(&answer);
            let _ = sock.send_to(&r, peer);
        }
        asked
    });
    (ip, stop, t)
}

#[test]
fn dns_servers_of_a_container_on_a_user_network_serve_the_embedded_dns() {
    let d = daemon_with_busybox();
    let (net, subnet, _) = fresh_net("dn");
    d.berth(&["network", "create", "--subnet", &subnet, &net]).ok();
    let (resolver, stop, t) = fake_resolver([192, 0, 2, 55]);
    d.berth(&["run", "-d", "--name", "named", "--network", &net, "busybox", "sleep", "300"]).ok();
    // As Docker: resolv.conf still names the embedded DNS, which forwards what it does not
    // know to the --dns server (asked from the host, so a loopback resolver works).
    let resolv = d.berth(&["run", "--rm", "--network", &net, "--dns", &resolver, "busybox", "cat", "/etc/resolv.conf"]).ok();
    assert!(resolv.contains("nameserver 127.0.0.11") && !resolv.contains(&resolver), "{resolv}");
    let out = d.berth(&["run", "--rm", "--network", &net, "--dns", &resolver, "busybox", "nslookup", "app.example.test"]).ok();
    assert!(out.contains("192.0.2.55"), "the --dns server's answer: {out}");
    let out = d.berth(&["run", "--rm", "--network", &net, "--dns", &resolver, "busybox", "nslookup", "named"]).ok();
    assert!(out.contains(&ip_on(&d, "named", &net)), "container names still answered by berth: {out}");
    // Without --dns the host's resolvers are asked, not this one.
    let _ = d.berth(&["run", "--rm", "--network", &net, "busybox", "nslookup", "other.example.test"]).output();
    stop.store(true, Ordering::Relaxed);
    let asked = t.join().unwrap();
    assert!(asked.iter().any(|n| n == "app.example.test"), "{asked:?}");
    assert!(!asked.iter().any(|n| n.starts_with("other.") || n.starts_with("named")), "only unknown names of the container with --dns: {asked:?}");
    d.berth(&["rm", "-f", "named"]).ok();
    d.berth(&["network", "rm", &net]).ok();
}

#[test]
fn mtu_of_a_network_and_of_the_default_bridge() {
    let d = Daemon::start_with_config(r#""mtu": 1450"#);
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
    let (net, subnet, _) = fresh_net("mt");
    d.berth(&["network", "create", "--subnet", &subnet, "-o", "com.docker.network.driver.mtu=1400", &net]).ok();
    assert_eq!(d.berth(&["network", "inspect", "-f", "{{index .Options \"com.docker.network.driver.mtu\"}}", &net]).ok().trim(), "1400");
    assert_eq!(d.berth(&["run", "--rm", "--network", &net, "busybox", "cat", "/sys/class/net/eth0/mtu"]).ok().trim(), "1400");
    d.berth(&["run", "-d", "--name", "up", "--network", &net, "busybox", "sleep", "60"]).ok();
    let bridge = bridge_of(&d, &net);
    assert_eq!(std::fs::read_to_string(format!("/sys/class/net/{bridge}/mtu")).unwrap().trim(), "1400");
    assert!(!veths_on(&bridge).is_empty(), "the running container's veth is on {bridge}");
    for v in veths_on(&bridge) {
        assert_eq!(std::fs::read_to_string(format!("/sys/class/net/{v}/mtu")).unwrap().trim(), "1400", "host end {v}");
    }
    // daemon.json's mtu is the default bridge's.
    assert_eq!(d.berth(&["run", "--rm", "busybox", "cat", "/sys/class/net/eth0/mtu"]).ok().trim(), "1450");
    // A bad value names the option, and no network is left.
    let (bad, bsub, _) = fresh_net("mtb");
    for v in ["abc", "20", "70000"] {
        let (_, err) = fails(&d, &["network", "create", "--subnet", &bsub, "-o", &format!("com.docker.network.driver.mtu={v}"), &bad]);
        assert!(err.contains("com.docker.network.driver.mtu") && err.contains(v), "{err}");
    }
    assert!(!networks(&d).contains(&bad));
    d.berth(&["rm", "-f", "up"]).ok();
    d.berth(&["network", "rm", &net]).ok();
}

/// Legacy links (`--link name[:alias]`): on the default bridge an /etc/hosts line and
/// Docker's variables, on a user network a name only the linking container resolves.
#[test]
fn legacy_links_give_hosts_variables_and_private_names() {
    let d = daemon_with_busybox();
    d.berth(&["run", "-d", "--name", "db", "--expose", "5432", "-e", "PGDATA=/data", "busybox", "sleep", "300"]).ok();
    let db_ip = ip_on(&d, "db", "bridge");
    assert!(!db_ip.is_empty());
    let out = d.berth(&["run", "--rm", "--name", "app", "--link", "db:database", "busybox", "sh", "-c", "cat /etc/hosts; env"]).ok();
    assert!(out.lines().any(|l| l.starts_with(&format!("{db_ip}\t")) && l.ends_with("\tdatabase")), "hosts: {out}");
    for v in [format!("DATABASE_PORT=tcp://{db_ip}:5432"), format!("DATABASE_PORT_5432_TCP_ADDR={db_ip}"), "DATABASE_NAME=/app/database".into(), "DATABASE_ENV_PGDATA=/data".into()] {
        assert!(out.lines().any(|l| l == v), "{v} missing: {out}");
    }
    d.berth(&["create", "--name", "linker", "--link", "db:database", "busybox", "true"]).ok();
    assert_eq!(d.berth(&["inspect", "-f", "{{json .HostConfig.Links}}", "linker"]).ok().trim(), r#"["/db:/linker/database"]"#);
    // Bad links: a missing container at create, a stopped one at start, host networking.
    let (_, err) = fails(&d, &["create", "--link", "nosuch:x", "busybox"]);
    assert!(err.contains("could not get container for nosuch"), "{err}");
    d.berth(&["stop", "-t", "0", "db"]).ok();
    let (_, err) = fails(&d, &["start", "linker"]);
    assert!(err.contains("Cannot link to a non running container: /db AS /linker/database"), "{err}");
    let (_, err) = fails(&d, &["create", "--network", "host", "--link", "db", "busybox"]);
    assert!(err.contains("host type networking can't be used with links"), "{err}");
    d.berth(&["rm", "-f", "linker", "db"]).ok();

    // A user network: the alias is the linking container's alone.
    let (net, subnet, _) = fresh_net("lk");
    d.berth(&["network", "create", "--subnet", &subnet, &net]).ok();
    d.berth(&["run", "-d", "--name", "srv", "--network", &net, "busybox", "sleep", "300"]).ok();
    let srv_ip = ip_on(&d, "srv", &net);
    let out = d.berth(&["run", "--rm", "--network", &net, "--link", "srv:special", "busybox", "nslookup", "special"]).ok();
    assert!(out.contains(&srv_ip), "the linking container resolves the alias: {out}");
    let other = d.berth(&["run", "--rm", "--network", &net, "busybox", "nslookup", "special"]).output();
    assert!(!String::from_utf8_lossy(&other.stdout).contains(&srv_ip), "another container does not");
    d.berth(&["rm", "-f", "srv"]).ok();
    d.berth(&["network", "rm", &net]).ok();
}

#[test]
fn user_networks_are_isolated_from_each_other() {
    let d = daemon_with_busybox();
    let (a, sa, _) = fresh_net("isa");
    let (b, sb, _) = fresh_net("isb");
    d.berth(&["network", "create", "--subnet", &sa, &a]).ok();
    d.berth(&["network", "create", "--subnet", &sb, &b]).ok();
    d.berth(&["run", "-d", "--name", "web", "--network", &a, "busybox", "sh", "-c", &httpd("secret")]).ok();
    let ip = ip_on(&d, "web", &a);
    // Reachable on its own network (so the failure below is isolation, not a dead server).
    assert_eq!(d.berth(&["run", "--rm", "--network", &a, "busybox", "sh", "-c", &fetch_in(&ip, 50)]).ok(), "secret\n");
    let out = d.berth(&["run", "--rm", "--network", &b, "busybox", "sh", "-c", &fetch_in(&ip, 1)]).output();
    assert!(!out.status.success(), "network {b} reached {ip} on {a}: {}", String::from_utf8_lossy(&out.stdout));
    // Nor by name: the other network's DNS does not know it.
    let out = d.berth(&["run", "--rm", "--network", &b, "busybox", "nslookup", "web"]).output();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&ip));
    // The default bridge is isolated from user networks too.
    let out = d.berth(&["run", "--rm", "busybox", "sh", "-c", &fetch_in(&ip, 1)]).output();
    assert!(!out.status.success(), "the default bridge reached {ip}");
    d.berth(&["rm", "-f", "web"]).ok();
    d.berth(&["network", "rm", &a, &b]).ok();
}

#[test]
fn internal_network_has_no_default_route_and_none_only_lo() {
    let d = daemon_with_busybox();
    let (net, subnet, _) = fresh_net("in");
    d.berth(&["network", "create", "--internal", "--subnet", &subnet, &net]).ok();
    assert_eq!(d.berth(&["network", "inspect", "-f", "{{.Internal}}", &net]).ok().trim(), "true");
    let routes = d.berth(&["run", "--rm", "--network", &net, "busybox", "ip", "route"]).ok();
    assert!(!routes.contains("default"), "--internal has no default route: {routes}");
    assert!(routes.contains(&subnet), "the subnet route is there: {routes}");
    let routes = d.berth(&["run", "--rm", "--network", &net, "busybox", "route", "-n"]).ok();
    assert!(!routes.lines().any(|l| l.starts_with("0.0.0.0")), "{routes}");
    // A normal network has one, via its gateway.
    let (n2, s2, x2) = fresh_net("ext");
    d.berth(&["network", "create", "--subnet", &s2, &n2]).ok();
    let routes = d.berth(&["run", "--rm", "--network", &n2, "busybox", "ip", "route"]).ok();
    assert!(routes.contains(&format!("default via 10.231.{x2}.1")), "{routes}");
    d.berth(&["network", "rm", &net, &n2]).ok();

    // --network none: loopback only.
    assert_eq!(d.berth(&["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]).ok(), "lo\n");
    let links = d.berth(&["run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev"]).ok();
    assert!(!links.contains("eth0"), "{links}");
    // The default bridge gives eth0 and a default route.
    let ifs = d.berth(&["run", "--rm", "busybox", "ls", "/sys/class/net"]).ok();
    assert_eq!(ifs.split_whitespace().collect::<Vec<_>>(), ["eth0", "lo"]);
    // host: the host's interfaces.
    let ifs = d.berth(&["run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"]).ok();
    assert!(ifs.lines().any(|l| l == d.bridge) || ifs.lines().count() > 1, "host namespace: {ifs}");
}

#[test]
fn publish_all_is_reported_by_port() {
    let d = daemon_with_busybox();
    d.berth(&["run", "-d", "--name", "pall", "-P", "--expose", "80", "busybox", "sh", "-c", &httpd("random-port")]).ok();
    let out = d.berth(&["port", "pall", "80"]).ok();
    let first = out.lines().next().unwrap_or_default();
    let port: u16 = first.rsplit(':').next().unwrap().parse().unwrap_or_else(|_| panic!("port output: {out}"));
    assert!(port >= 1024, "a port from the ephemeral range: {port}");
    let all = d.berth(&["port", "pall"]).ok();
    assert!(all.starts_with("80/tcp -> "), "{all}");
    assert_eq!(http_get(port, Duration::from_secs(15)).expect("GET the -P port on 127.0.0.1"), "random-port\n");
    // -p with no host port: also random, reported the same way.
    d.berth(&["run", "-d", "--name", "p2", "-p", "127.0.0.1::80", "busybox", "sh", "-c", &httpd("p2")]).ok();
    let out = d.berth(&["port", "p2", "80"]).ok();
    let p2: u16 = out.trim().strip_prefix("127.0.0.1:").unwrap_or_else(|| panic!("{out}")).parse().unwrap();
    assert_eq!(http_get(p2, Duration::from_secs(15)).unwrap(), "p2\n");
}

/// A UDP echo server for the container: Debian's busybox nc has no -u and busybox has no
/// other UDP server, so the host's python3 is mounted in (with its libraries).
const UDP_ECHO: &str = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 9999))\nwhile True:\n    d, a = s.recvfrom(2048)\n    s.sendto(b'pong:' + d, a)\n";

#[test]
fn udp_port_is_published() {
    if !std::path::Path::new("/usr/bin/python3").exists() {
        eprintln!("note: /usr/bin/python3 absent, skipping the UDP publish test");
        return;
    }
    let d = daemon_with_busybox();
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut args = vec!["run", "-d", "--name", "udp", "-v", "/usr:/usr:ro"];
    for dir in ["/lib", "/lib64"] {
        if std::path::Path::new(dir).exists() {
            args.extend(["-v", if dir == "/lib" { "/lib:/lib:ro" } else { "/lib64:/lib64:ro" }]);
        }
    }
    let spec = format!("127.0.0.1:{port}:9999/udp");
    args.extend(["-p", &spec, "busybox", "/usr/bin/python3", "-c", UDP_ECHO]);
    d.berth(&args).ok();
    assert_eq!(d.berth(&["port", "udp", "9999/udp"]).ok(), format!("127.0.0.1:{port}\n"));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 2048];
    let mut reply = String::new();
    while Instant::now() < deadline {
        let _ = sock.send_to(b"ping-udp", ("127.0.0.1", port));
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            reply = String::from_utf8_lossy(&buf[..n]).into_owned();
            break;
        }
    }
    assert_eq!(reply, "pong:ping-udp", "a datagram through -p .../udp and the reply back");
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let d = daemon_with_busybox();
    let (a, sa, _) = fresh_net("ca");
    let (b, sb, xb) = fresh_net("cb");
    d.berth(&["network", "create", "--subnet", &sa, &a]).ok();
    d.berth(&["network", "create", "--subnet", &sb, &b]).ok();
    d.berth(&["run", "-d", "--name", "c1", "--network", &a, "busybox", "sleep", "300"]).ok();
    d.berth(&["run", "-d", "--name", "srv", "--network", &b, "busybox", "sh", "-c", &httpd("on-b")]).ok();
    let ifs = |c: &str| d.berth(&["exec", c, "ls", "/sys/class/net"]).ok().split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(ifs("c1"), ["eth0", "lo"]);

    let fixed = format!("10.231.{xb}.77");
    assert_eq!(d.berth(&["network", "connect", "--ip", &fixed, "--alias", "c1-alias", &b, "c1"]).ok(), "");
    assert_eq!(ifs("c1"), ["eth0", "eth1", "lo"], "eth1 appears at once");
    assert_eq!(ip_on(&d, "c1", &b), fixed);
    let addrs = d.berth(&["exec", "c1", "ip", "-o", "-4", "addr"]).ok();
    assert!(addrs.contains(&format!("{fixed}/24")), "{addrs}");
    // c1 now reaches srv by name on b, and srv resolves c1's alias.
    assert_eq!(d.berth(&["exec", "c1", "sh", "-c", &fetch_in("srv", 25)]).ok(), "on-b\n");
    let ns = d.berth(&["exec", "srv", "nslookup", "c1-alias"]).ok();
    assert!(ns.contains(&fixed), "{ns}");
    let containers = d.berth(&["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", &b]).ok();
    assert!(containers.contains(&format!("c1 {fixed}/24")), "{containers}");
    // Connecting twice is an error.
    let (_, err) = fails(&d, &["network", "connect", &b, "c1"]);
    assert!(err.contains("already"), "{err}");

    assert_eq!(d.berth(&["network", "disconnect", &b, "c1"]).ok(), "");
    assert_eq!(ifs("c1"), ["eth0", "lo"], "eth1 goes at once");
    let out = d.berth(&["exec", "c1", "nslookup", "srv"]).output();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&format!("10.231.{xb}.")), "srv no longer resolves from c1");
    let ns = d.berth(&["exec", "srv", "nslookup", "c1-alias"]).output();
    assert!(!String::from_utf8_lossy(&ns.stdout).contains(&fixed), "the alias went with the endpoint");
    let (_, err) = fails(&d, &["network", "disconnect", &b, "c1"]);
    assert!(err.contains("not connected"), "{err}");
    // -f: no error for a missing endpoint.
    d.berth(&["network", "disconnect", "-f", &b, "c1"]).ok();
    // Off the network its NetworkMode names: the mode stays (as in Docker), and it can
    // be connected again, with an alias (what docker-compose 1.29 does to new containers).
    d.berth(&["network", "disconnect", &a, "c1"]).ok();
    assert_eq!(ifs("c1"), ["lo"]);
    assert_eq!(d.berth(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", "c1"]).ok().trim(), a);
    d.berth(&["network", "connect", "--alias", "c1-again", &a, "c1"]).ok();
    assert_eq!(ifs("c1").len(), 2, "{:?}", ifs("c1"));
    let (_, err) = fails(&d, &["network", "connect", &a, "c1"]);
    assert!(err.contains("already"), "{err}");
    d.berth(&["rm", "-f", "c1", "srv"]).ok();
    d.berth(&["network", "rm", &a, &b]).ok();
}

#[test]
fn teardown_leaves_nothing_behind() {
    let d = daemon_with_busybox();
    let (a, sa, _) = fresh_net("ta");
    let (b, sb, _) = fresh_net("tb");
    d.berth(&["network", "create", "--subnet", &sa, &a]).ok();
    d.berth(&["network", "create", "--subnet", &sb, &b]).ok();
    let bridges = [d.bridge.clone(), bridge_of(&d, &a), bridge_of(&d, &b)];
    let port = free_port();
    d.berth(&["run", "-d", "--name", "t1", "--network", &a, "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sh", "-c", &httpd("t1")]).ok();
    d.berth(&["run", "-d", "--name", "t2", "--network", &b, "busybox", "sleep", "300"]).ok();
    d.berth(&["network", "connect", &a, "t2"]).ok();
    d.berth(&["run", "-d", "--name", "t3", "busybox", "sleep", "300"]).ok();
    d.berth(&["run", "-d", "--name", "t4", "--network", "none", "busybox", "sleep", "300"]).ok();
    d.berth(&["run", "-d", "--name", "t5", "--network", "container:t3", "busybox", "sleep", "300"]).ok();
    d.berth(&["run", "--rm", "--network", &a, "busybox", "true"]).ok();
    assert_eq!(http_get(port, Duration::from_secs(15)).unwrap(), "t1\n");

    let links = host_links();
    for br in &bridges[1..] {
        assert!(links.contains(br), "bridge {br} exists while used: {links:?}");
    }
    let veths: Vec<String> = bridges.iter().flat_map(|b| veths_on(b)).collect();
    // t1, t2 (twice), t3: one host veth each (the --rm one's may still be going).
    assert!(veths.len() >= 4, "host veths of t1, t2 (twice), t3: {veths:?}");
    let netns_dir = d.dir.path().join("run/netns");
    let netns_files = || std::fs::read_dir(&netns_dir).map(|r| r.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>()).unwrap_or_default();
    // t1, t2, t3 (t4's `none` namespace is made by the runtime and pinned by no file).
    assert!(netns_files().len() >= 3, "netns files while running: {:?}", netns_files());

    d.berth(&["rm", "-f", "t5", "t1", "t2", "t3", "t4"]).ok();
    let pruned = d.berth(&["network", "prune", "-f"]).ok();
    assert!(pruned.starts_with("Deleted Networks:\n"), "{pruned}");
    assert!(pruned.contains(&format!("\n{a}\n")) && pruned.contains(&format!("\n{b}\n")), "{pruned}");
    assert!(!networks(&d).contains(&a) && !networks(&d).contains(&b));

    // veth deletes may finish on a thread: allow them a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let links = host_links();
        let left: Vec<&String> = links.iter().filter(|l| veths.contains(l) || bridges[1..].contains(l)).collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind after rm -f and network prune: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(netns_files(), Vec::<String>::new(), "netns files left under {}", netns_dir.display());
    if let Ok(out) = Command::new("nft").args(["list", "ruleset"]).output() {
        let rules = String::from_utf8_lossy(&out.stdout);
        for br in &bridges[1..] {
            assert!(!rules.contains(br.as_str()), "nft rules for {br} left behind");
        }
        assert!(!rules.contains(&format!("dport {port}")), "nft rules for published port {port} left behind");
    }
    assert!(http_get(port, Duration::from_millis(300)).is_err(), "nothing serves {port}");
    // system prune also prunes networks (docker's order: containers, networks, ...).
    let (c, sc, _) = fresh_net("tc");
    d.berth(&["network", "create", "--subnet", &sc, &c]).ok();
    let out = d.berth(&["system", "prune", "-f"]).ok();
    assert!(out.contains(&format!("Deleted Networks:\n{c}\n")), "{out}");
}
