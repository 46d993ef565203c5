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

#[test]
fn who_asks_platd_and_shows_the_holder() {
    use plat_core::nat::{BibInfo, Endpoint4, Endpoint6, Holder};
    use std::net::Ipv4Addr;

    fn holder() -> Answer {
        let v4 = Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 2050);
        Answer::Who(vec![api::OnWorker {
            worker: 0,
            info: Holder {
                proto: Proto::Tcp,
                subscriber: "2001:db8:0:100::/56".parse().unwrap(),
                bib: Some(BibInfo {
                    proto: Proto::Tcp,
                    v6: Endpoint6::new("2001:db8:0:100::5".parse().unwrap(), 40000),
                    v4,
                    is_static: false,
                    sessions: 2,
                }),
                block: None,
            },
        }])
    }
    let path = socket_path("who");
    let server = serve(&path, |_| Outcome::Ok(holder()));
    let out = platctl(&path, &["who", "192.0.2.1:2050", "--proto", "tcp"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("2001:db8:0:100::/56"), "{shown}");
    assert!(shown.contains("[2001:db8:0:100::5]:40000"), "{shown}");
    let seen = server.join().unwrap();
    assert_eq!(
        seen[0].command,
        api::Command::Who {
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 2050),
            proto: Some(Proto::Tcp),
        }
    );

    let path = socket_path("who-json");
    let server = serve(&path, |_| Outcome::Ok(holder()));
    let out = platctl(&path, &["--json", "who", "192.0.2.1:2050"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        serde_json::from_slice::<Answer>(&out.stdout).unwrap(),
        holder()
    );
    server.join().unwrap();
}

/// Writes a rotated pair of log files; returns their paths, newest first.
fn log_files(name: &str) -> (PathBuf, PathBuf) {
    use plat_core::log::{write_line, LogEvent};
    use plat_core::nat::{BlockRec, Record};
    use std::net::Ipv4Addr;

    let dir = std::env::temp_dir().join(format!("platctl-it-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let block = BlockRec {
        time: 0,
        proto: Proto::Udp,
        subscriber: "2001:db8:0:100::".parse().unwrap(),
        prefix_len: 56,
        v4: Ipv4Addr::new(192, 0, 2, 1),
        block: 0,
        first: 2048,
        last: 2175,
        size: 128,
    };
    // 2026-12-05T06:00:00Z and 08:00:00Z.
    let t = 1_796_450_400_000;
    let write = |file: &str, unix_ms: u64, record: Record, junk: &str| {
        let mut out = Vec::new();
        write_line(
            &LogEvent {
                unix_ms,
                worker: 1,
                record,
            },
            false,
            &mut out,
        );
        out.extend_from_slice(junk.as_bytes());
        let p = dir.join(file);
        std::fs::write(&p, out).unwrap();
        p
    };
    let older = write("nat.log.1", t, Record::BlockAlloc(block), "garbage\n");
    let newer = write("nat.log", t + 7_200_000, Record::BlockFree(block), "");
    (newer, older)
}

#[test]
fn log_search_reads_files_without_platd_and_exits_like_grep() {
    let nowhere = socket_path("no-platd-for-log-search");
    let (newer, older) = log_files("search");
    let (newer, older) = (newer.to_str().unwrap(), older.to_str().unwrap());
    let search = |at: &str, json: bool| {
        let mut args = vec!["log", "search", "--v4", "192.0.2.1:2100", "--at", at];
        if json {
            args.push("--json");
        }
        args.extend([newer, older]);
        platctl(&nowhere, &args, "")
    };
    // Found: 0, the block and its subscriber.
    let out = search("2026-12-05T07:00:00Z", false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for want in [
        "block",
        "2001:db8:0:100::/56",
        "192.0.2.1:2048-2175",
        "2026-12-05T06:00:00.000Z",
        "2026-12-05T08:00:00.000Z",
    ] {
        assert!(shown.contains(want), "`{want}` missing:\n{shown}");
    }
    assert!(text(&out.stderr).contains("1 of 3 lines are not log lines"));
    let out = search("1796454000", true);
    assert_eq!(out.status.code(), Some(0));
    let r: plat_core::log::SearchResult = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.holdings.len(), 1);
    // Nobody: 1.
    let out = search("2026-12-05T09:00:00Z", false);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("nobody held 192.0.2.1:2100 at 2026-12-05T09:00:00.000Z"));
    // Trouble: 2, a missing file and a bad time alike.
    let out = platctl(
        &nowhere,
        &[
            "log",
            "search",
            "--v4",
            "192.0.2.1:2100",
            "--at",
            "1796454000",
            "/nonexistent/nat.log",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/nat.log"));
    let out = search("noon", false);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("`noon` is neither an RFC 3339 UTC time"));
    std::fs::remove_dir_all(Path::new(newer).parent().unwrap()).unwrap();
}

#[test]
fn completions_come_from_the_grammar_without_platd() {
    let path = socket_path("completions");
    for (shell, marker) in [
        ("bash", "_platctl()"),
        ("zsh", "#compdef platctl"),
        ("fish", "complete -c platctl"),
    ] {
        let out = platctl(&path, &["completions", shell], "");
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        // fish names a long flag `-l json`, the others `--json`.
        for word in ["show", "sessions", "takeover", "json"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
}
