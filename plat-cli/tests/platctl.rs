//! The platctl binary against a real Unix socket whose listener answers
//! canned responses: exit statuses, stdout and stderr as a script or the
//! lab sees them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;

use plat_core::api::{self, Answer, ApiError, ErrorKind, Listing, Outcome, Request, Response};
use plat_core::nat::{Proto, SessionFilter};

fn socket_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("platctl-it-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Answers every request of one connection with `answer`; returns the
/// requests.
fn serve(path: &Path, answer: fn(&Request) -> Outcome) -> JoinHandle<Vec<Request>> {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s);
        let mut seen = Vec::new();
        let mut line = String::new();
        while r.read_line(&mut line).unwrap() > 0 {
            let req: Request = serde_json::from_str(&line).unwrap();
            let resp = Response {
                version: api::VERSION,
                id: req.id,
                outcome: answer(&req),
            };
            let mut out = serde_json::to_string(&resp).unwrap();
            out.push('\n');
            r.get_mut().write_all(out.as_bytes()).unwrap();
            seen.push(req);
            line.clear();
        }
        seen
    })
}

fn platctl(socket: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_platctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env("PLATCTL_HISTORY", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn no_sessions() -> Answer {
    Answer::Sessions(Listing {
        entries: Vec::new(),
        next: None,
        count: None,
    })
}

#[test]
fn json_prints_the_answer_and_the_filter_reaches_platd() {
    let path = socket_path("json");
    let server = serve(&path, |_| Outcome::Ok(no_sessions()));
    let out = platctl(&path, &["show", "sessions", "--proto", "tcp", "--json"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: Answer = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer, no_sessions());
    let seen = server.join().unwrap();
    let api::Command::ShowSessions(q) = seen[0].command else {
        panic!("{:?}", seen[0].command)
    };
    assert_eq!(
        q.filter,
        SessionFilter {
            proto: Some(Proto::Tcp),
            ..SessionFilter::default()
        }
    );
}

#[test]
fn an_error_goes_to_stderr_with_its_field_and_exits_1() {
    let path = socket_path("refused");
    let server = serve(&path, |_| {
        Outcome::Error(ApiError::field(
            ErrorKind::Refused,
            "eal.args",
            "read once at start",
        ))
    });
    let out = platctl(&path, &["config", "reload"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: refused: read once at start (field `eal.args`)\n"
    );
    assert!(out.stdout.is_empty());
    server.join().unwrap();
}

#[test]
fn no_platd_and_bad_input_exit_1() {
    let path = socket_path("absent");
    let out = platctl(&path, &["show", "summary"], "");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&*path.to_string_lossy()) && err.contains("os error 2"),
        "{err}"
    );

    let out = platctl(&path, &["show", "sessions", "--proto", "sctp"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`sctp` is not a protocol"));
}

#[test]
fn the_shell_reads_lines_from_a_pipe_and_goes_on_after_an_error() {
    let path = socket_path("shell");
    let server = serve(&path, |req| match req.command {
        api::Command::ShowWorkers => Outcome::Ok(Answer::Workers(Vec::new())),
        api::Command::ShowPool4 => Outcome::Ok(Answer::Pool4(api::Pool4Status {
            entries: Vec::new(),
            addrs: Vec::new(),
        })),
        _ => Outcome::Ok(Answer::Cleared { sessions: 9 }),
    });
    let out = platctl(
        &path,
        &[],
        "show bogus\nsession clear --proto udp\nexit\nshow summary\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unrecognized subcommand 'bogus'"));
    assert_eq!(text(&out.stdout), "9 sessions cleared\n");
    // The completion cache, then the one command; nothing after `exit`.
    let seen: Vec<_> = server
        .join()
        .unwrap()
        .into_iter()
        .map(|r| r.command)
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(matches!(seen[2], api::Command::SessionClear { .. }));
}
