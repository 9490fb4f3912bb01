//! The API on TCP with mutual TLS (`berthd -H tcp://… --tlsverify`): berth and the real
//! docker CLI get in with a client certificate the CA signed, and only with one; plain
//! TCP off loopback is refused at start. Certificates are made with openssl per test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Daemon;

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`; and a
/// second CA that signed none of them.
fn make_certs(dir: &Path) {
    let script = r#"set -e
req() { openssl req "$@" 2>/dev/null; }
for ca in ca other-ca; do
  req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $ca-key.pem -out $ca.pem -days 2 -subj /CN=$ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
done
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
for who in server client; do
  req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $who-key.pem -out $who.csr -subj /CN=$who
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out $who.pem -days 2 -extfile $who.ext 2>/dev/null
done
# docker's DOCKER_CERT_PATH layout for the client.
mkdir -p client-dir && cp ca.pem client-dir/ca.pem && cp client.pem client-dir/cert.pem && cp client-key.pem client-dir/key.pem
"#;
    let st = Command::new("bash").arg("-c").arg(script).current_dir(dir).status().expect("bash");
    assert!(st.success(), "making certificates with openssl failed");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Tls {
    d: Daemon,
    certs: tempfile::TempDir,
    host: String,
}

impl Tls {
    fn start() -> Tls {
        let certs = tempfile::Builder::new().prefix("berth-tls-").tempdir().unwrap();
        make_certs(certs.path());
        let host = format!("tcp://127.0.0.1:{}", free_port());
        let p = |f: &str| certs.path().join(f).to_string_lossy().into_owned();
        let d = Daemon::start_with("", &["-H", &host, "--tlsverify", "--tlscacert", &p("ca.pem"), "--tlscert", &p("server.pem"), "--tlskey", &p("server-key.pem")]);
        let tar = common::busybox_tar().to_str().unwrap().to_owned();
        d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
        Tls { d, certs, host }
    }

    fn cert(&self, f: &str) -> PathBuf {
        self.certs.path().join(f)
    }

    /// berth over TCP with `flags` (TLS options), nothing from the environment.
    fn berth(&self, flags: &[&str], args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("-H").arg(&self.host).args(flags).args(args);
        c.env_remove("BERTH_HOST").env_remove("DOCKER_HOST").env_remove("DOCKER_TLS_VERIFY").env_remove("DOCKER_CERT_PATH");
        c
    }
}

#[test]
fn mutual_tls_lets_in_only_certified_clients() {
    let t = Tls::start();
    let (ca, cert, key) = (t.cert("ca.pem"), t.cert("client.pem"), t.cert("client-key.pem"));
    let (ca, cert, key) = (ca.to_str().unwrap(), cert.to_str().unwrap(), key.to_str().unwrap());
    let good = ["--tlsverify", "--tlscacert", ca, "--tlscert", cert, "--tlskey", key];

    let out = t.berth(&good, &["run", "--rm", "busybox", "echo", "over-tls"]).output().unwrap();
    assert_eq!(text(&out.stdout), "over-tls\n", "{}", text(&out.stderr));
    // stdin through the hijacked stream, and its half-close (close_notify) ends `cat`.
    let mut child = t.berth(&good, &["run", "--rm", "-i", "busybox", "cat"]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"piped through TLS\n").unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!((text(&out.stdout), out.status.code()), ("piped through TLS\n".to_owned(), Some(0)));
    // DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as docker's CLI takes them.
    let out = t.berth(&[], &["version", "--format", "{{.Server.APIVersion}}"]).env("DOCKER_TLS_VERIFY", "1").env("DOCKER_CERT_PATH", t.cert("client-dir")).output().unwrap();
    assert_eq!(text(&out.stdout), "1.50\n", "{}", text(&out.stderr));

    // No client certificate: the daemon refuses the connection.
    let out = t.berth(&["--tlsverify", "--tlscacert", ca], &["ps"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("client certificate"), "{}", text(&out.stderr));
    // A daemon certificate the client's CA did not sign is refused by the client.
    let other = t.cert("other-ca.pem");
    let out = t.berth(&["--tlsverify", "--tlscacert", other.to_str().unwrap(), "--tlscert", cert, "--tlskey", key], &["ps"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("UnknownIssuer"), "{}", text(&out.stderr));
    // Plain HTTP to the TLS port.
    let out = t.berth(&[], &["ps"]).output().unwrap();
    assert!(text(&out.stderr).contains("answered with TLS"), "{}", text(&out.stderr));
    // A certificate file that is not there is named.
    let out = t.berth(&["--tlsverify", "--tlscacert", ca, "--tlscert", "/nonexistent/cert.pem", "--tlskey", key], &["ps"]).output().unwrap();
    assert!(text(&out.stderr).contains("/nonexistent/cert.pem"), "{}", text(&out.stderr));
    assert!(t.d.log().contains("TLS handshake refused"), "berthd did not log the refused handshakes");
}

#[test]
fn docker_cli_over_mutual_tls() {
    let t = Tls::start();
    if !Path::new(common::DOCKER).exists() {
        eprintln!("note: {} absent, skipping", common::DOCKER);
        return;
    }
    let docker = |args: &[&str]| {
        let mut c = Command::new(common::DOCKER);
        c.args(args)
            .env("DOCKER_HOST", &t.host)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", t.cert("client-dir"))
            .env("DOCKER_CONFIG", t.d.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT");
        c
    };
    let out = docker(&["run", "--rm", "busybox", "echo", "docker-over-tls"]).output().unwrap();
    assert_eq!(text(&out.stdout), "docker-over-tls\n", "{}", text(&out.stderr));
    let out = docker(&["run", "-d", "--name", "tlsd", "busybox", "sleep", "100"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = docker(&["exec", "tlsd", "sh", "-c", "echo exec-ok"]).output().unwrap();
    assert_eq!(text(&out.stdout), "exec-ok\n", "{}", text(&out.stderr));
    let out = docker(&["ps", "--format", "{{.Names}}"]).output().unwrap();
    assert_eq!(text(&out.stdout), "tlsd\n");
    assert!(docker(&["rm", "-f", "tlsd"]).status().unwrap().success());
    // Without certificates docker gets nothing.
    let out = docker(&["ps"]).env_remove("DOCKER_TLS_VERIFY").env_remove("DOCKER_CERT_PATH").output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn berthd_refuses_plain_tcp_off_loopback_and_bad_cert_files() {
    let dir = tempfile::Builder::new().prefix("berth-tls-refuse-").tempdir().unwrap();
    std::fs::write(dir.path().join("empty.json"), "{}").unwrap();
    let berthd = |args: &[&str]| {
        Command::new(common::berthd())
            .args(["--data-root", &dir.path().join("root").to_string_lossy(), "--exec-root", &dir.path().join("run").to_string_lossy()])
            .args(["--pidfile", &dir.path().join("pid").to_string_lossy(), "--config-file", &dir.path().join("empty.json").to_string_lossy()])
            .args(args)
            .output()
            .unwrap()
    };
    let out = berthd(&["-H", "tcp://0.0.0.0:2375"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("refusing to listen on tcp://0.0.0.0:2375 without --tlsverify"), "{}", text(&out.stderr));
    let out = berthd(&["-H", "tcp://0.0.0.0:2376", "--tls"]);
    assert!(text(&out.stderr).contains("without --tlsverify"), "{}", text(&out.stderr));
    let out = berthd(&["-H", &format!("tcp://127.0.0.1:{}", free_port()), "--tlsverify", "--tlscacert", "/nonexistent/ca.pem", "--tlscert", "/nonexistent/c.pem", "--tlskey", "/nonexistent/k.pem"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/c.pem"), "{}", text(&out.stderr));
    assert!(!dir.path().join("root").exists(), "berthd wrote state before failing on its certificates");
}
