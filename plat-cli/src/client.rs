//! The management socket: one JSON request line out, one response line
//! back, the connection kept for the next request, listings paged.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use plat_core::api::{
    Answer, ApiError, Command, Cursor, ListQuery, Listing, Outcome, Request, Response, VERSION,
};

use crate::grammar::{page_limit, ListPlan, Listed};

/// How long platd may take to answer one request; its own worker
/// timeouts are far shorter, so this only catches a platd that hangs.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to {}: {source}", path.display())]
    Connect { path: PathBuf, source: io::Error },
    #[error("talking to platd on {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("platd on {} closed the connection without answering", path.display())]
    Closed { path: PathBuf },
    #[error("platd on {} did not answer within {} s", path.display(), ANSWER_TIMEOUT.as_secs())]
    Timeout { path: PathBuf },
    #[error("platd's answer is not a response: {0}")]
    Garbled(serde_json::Error),
    #[error("platd answered request {got} instead of {sent}")]
    WrongId { sent: u64, got: u64 },
    #[error("platd speaks protocol version {0}, platctl version {VERSION}")]
    Version(u32),
    #[error("platd answered with `{0}`, not what was asked")]
    Unexpected(String),
    #[error("platd sent cursor {0:?} twice")]
    Stuck(Cursor),
    #[error("{}", api_message(.0))]
    Api(ApiError),
    #[error("cannot read {}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error("writing the output: {0}")]
    Output(io::Error),
    #[error("{0}")]
    Other(String),
}

/// `refused: read once at start (field `eal.args`)`.
fn api_message(e: &ApiError) -> String {
    match &e.field {
        Some(f) => format!("{e} (field `{f}`)"),
        None => e.to_string(),
    }
}

impl Error {
    /// The connection is gone (platd restarted, or closed an idle client):
    /// worth one new connection.
    fn broken(&self) -> bool {
        match self {
            Error::Closed { .. } => true,
            Error::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        }
    }
}

/// A connection to platd, opened on first use and kept.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    conn: Option<BufReader<UnixStream>>,
    next_id: u64,
}

impl Client {
    /// A client of the socket at `path` (nothing is opened yet).
    pub fn new(path: impl Into<PathBuf>) -> Client {
        Client {
            path: path.into(),
            conn: None,
            next_id: 1,
        }
    }

    /// Sends `command`, returns platd's answer. A kept connection that
    /// broke is replaced once.
    pub fn ask(&mut self, command: Command) -> Result<Answer, Error> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_string(&Request::new(id, command))
            .expect("a request has only string keys");
        line.push('\n');
        let reused = self.conn.is_some();
        let reply = match self.exchange(&line) {
            Err(e) if reused && e.broken() => self.exchange(&line),
            r => r,
        }?;
        let resp: Response = serde_json::from_str(&reply).map_err(Error::Garbled)?;
        // Id 0 answers a request platd could not read.
        if resp.id != id && resp.id != 0 {
            return Err(Error::WrongId {
                sent: id,
                got: resp.id,
            });
        }
        match resp.outcome {
            Outcome::Error(e) => Err(Error::Api(e)),
            Outcome::Ok(_) if resp.version != VERSION => Err(Error::Version(resp.version)),
            Outcome::Ok(a) => Ok(a),
        }
    }

    /// Writes one line and reads one back; the connection is dropped on
    /// any error, so the next request starts afresh.
    fn exchange(&mut self, line: &str) -> Result<String, Error> {
        let r = self.try_exchange(line);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn try_exchange(&mut self, line: &str) -> Result<String, Error> {
        let path = &self.path;
        let io = |source: io::Error| match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Error::Timeout { path: path.clone() }
            }
            _ => Error::Io {
                path: path.clone(),
                source,
            },
        };
        let conn = match &mut self.conn {
            Some(c) => c,
            None => {
                let s = UnixStream::connect(path).map_err(|source| Error::Connect {
                    path: path.clone(),
                    source,
                })?;
                s.set_read_timeout(Some(ANSWER_TIMEOUT)).map_err(io)?;
                self.conn.insert(BufReader::new(s))
            }
        };
        conn.get_mut().write_all(line.as_bytes()).map_err(io)?;
        let mut reply = String::new();
        if conn.read_line(&mut reply).map_err(io)? == 0 {
            return Err(Error::Closed { path: path.clone() });
        }
        Ok(reply)
    }

    /// Runs a listing: follows `next` until the plan has its entries or
    /// the listing ends; a count adds up each page's.
    pub fn list(&mut self, plan: &ListPlan) -> Result<Answer, Error> {
        match plan.of {
            Listed::Sessions => self
                .pages(plan, |a| match a {
                    Answer::Sessions(l) => Ok(l),
                    other => Err(answer_kind(&other)),
                })
                .map(Answer::Sessions),
            Listed::Bib => self
                .pages(plan, |a| match a {
                    Answer::Bib(l) => Ok(l),
                    other => Err(answer_kind(&other)),
                })
                .map(Answer::Bib),
        }
    }

    fn pages<T>(
        &mut self,
        plan: &ListPlan,
        page_of: fn(Answer) -> Result<Listing<T>, String>,
    ) -> Result<Listing<T>, Error> {
        let mut all = Listing {
            entries: Vec::new(),
            next: None,
            count: plan.query.count.then_some(0),
        };
        let mut cursor = plan.query.cursor;
        loop {
            let left = plan
                .want
                .map(|w| w.saturating_sub(all.entries.len() as u64));
            let query = ListQuery {
                cursor,
                limit: page_limit(left),
                ..plan.query
            };
            let page = page_of(self.ask(plan.of.command(query))?).map_err(Error::Unexpected)?;
            all.entries.extend(page.entries);
            if let (Some(sum), Some(n)) = (&mut all.count, page.count) {
                *sum += n;
            }
            all.next = page.next;
            if let Some(w) = plan.want {
                all.entries.truncate(w as usize);
            }
            let full = plan.want.is_some_and(|w| all.entries.len() as u64 >= w);
            match page.next {
                None => return Ok(all),
                Some(_) if full => return Ok(all),
                Some(c) if Some(c) == cursor => return Err(Error::Stuck(c)),
                next => cursor = next,
            }
        }
    }
}

/// An answer's name as it travels (`sessions`, `cleared`, ...).
pub fn answer_kind(a: &Answer) -> String {
    match serde_json::to_value(a) {
        Ok(serde_json::Value::Object(m)) => m.keys().next().cloned().unwrap_or_default(),
        Ok(v) => v.to_string(),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;
    use std::path::Path;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::thread::JoinHandle;

    use plat_core::api::ErrorKind;
    use plat_core::nat::{BibInfo, Endpoint4, Endpoint6, Proto, SessionFilter};

    use super::*;

    /// A socket path of its own for each test.
    fn socket_path() -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("platctl-test-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    /// A listener that, for each connection in turn, reads requests and
    /// answers each with `answer(request)`; `None` closes the
    /// connection without a word. Returns the requests it read.
    fn serve(
        path: &Path,
        connections: usize,
        mut answer: impl FnMut(&Request) -> Option<String> + Send + 'static,
    ) -> JoinHandle<Vec<String>> {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..connections {
                let (s, _) = listener.accept().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap() == 0 {
                        break;
                    }
                    let req: Request = serde_json::from_str(&line).unwrap();
                    seen.push(line);
                    match answer(&req) {
                        Some(reply) => r.get_mut().write_all(reply.as_bytes()).unwrap(),
                        None => break,
                    }
                }
            }
            seen
        })
    }

    fn reply(id: u64, outcome: Outcome) -> String {
        let mut s = serde_json::to_string(&Response {
            version: VERSION,
            id,
            outcome,
        })
        .unwrap();
        s.push('\n');
        s
    }

    #[test]
    fn a_request_is_one_json_line_and_the_connection_is_kept() {
        let path = socket_path();
        let server = serve(&path, 1, |req| {
            Some(reply(
                req.id,
                Outcome::Ok(Answer::Cleared { sessions: req.id }),
            ))
        });
        let mut c = Client::new(&path);
        for id in 1..=2 {
            let a = c
                .ask(Command::SessionClear {
                    filter: SessionFilter::default(),
                })
                .unwrap();
            assert_eq!(a, Answer::Cleared { sessions: id });
        }
        drop(c);
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 2, "both requests on one connection");
        for (line, id) in seen.iter().zip(1..) {
            assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            let req: Request = serde_json::from_str(line).unwrap();
            assert_eq!((req.version, req.id), (VERSION, id));
        }
    }

    #[test]
    fn an_api_error_keeps_its_field() {
        let path = socket_path();
        let server = serve(&path, 1, |req| {
            Some(reply(
                req.id,
                Outcome::Error(ApiError::field(
                    ErrorKind::Refused,
                    "eal.args",
                    "read once at start",
                )),
            ))
        });
        let err = Client::new(&path).ask(Command::ConfigReload).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused: read once at start (field `eal.args`)"
        );
        server.join().unwrap();
    }

    #[test]
    fn connection_errors_name_the_socket_and_the_os_error() {
        let path = socket_path();
        let err = Client::new(&path).ask(Command::ShowSummary).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&*path.to_string_lossy()), "{text}");
        assert!(text.contains("No such file or directory"), "{text}");
    }

    #[test]
    fn a_broken_connection_is_replaced_once() {
        let path = socket_path();
        // The first connection answers once, then closes on the second
        // request; the second connection answers.
        let mut n = 0;
        let server = serve(&path, 2, move |req| {
            n += 1;
            (n != 2).then(|| reply(req.id, Outcome::Ok(Answer::Neighbors(Vec::new()))))
        });
        let mut c = Client::new(&path);
        for _ in 0..2 {
            let a = c.ask(Command::ShowNeighbors).unwrap();
            assert_eq!(a, Answer::Neighbors(Vec::new()));
        }
        drop(c);
        assert_eq!(server.join().unwrap().len(), 3);
    }

    #[test]
    fn a_new_connection_closed_without_an_answer_is_not_tried_again() {
        let path = socket_path();
        let server = serve(&path, 1, |_| None);
        let mut c = Client::new(&path);
        let err = c.ask(Command::ShowSummary).unwrap_err();
        assert!(matches!(err, Error::Closed { .. }), "{err}");
        drop(c);
        assert_eq!(server.join().unwrap().len(), 1);
    }

    #[test]
    fn garbled_and_mismatched_answers_are_errors() {
        let path = socket_path();
        let mut n = 0;
        let server = serve(&path, 1, move |req| {
            n += 1;
            Some(match n {
                1 => "hello\n".to_string(),
                _ => reply(req.id + 5, Outcome::Ok(Answer::Workers(Vec::new()))),
            })
        });
        let mut c = Client::new(&path);
        let garbled = c.ask(Command::ShowWorkers).unwrap_err();
        assert!(matches!(garbled, Error::Garbled(_)), "{garbled}");
        let wrong = c.ask(Command::ShowWorkers).unwrap_err();
        assert!(
            matches!(wrong, Error::WrongId { sent: 2, got: 7 }),
            "{wrong}"
        );
        drop(c);
        server.join().unwrap();
    }

    fn bib(port: u16) -> BibInfo {
        BibInfo {
            proto: Proto::Udp,
            v6: Endpoint6::new("2001:db8::1".parse().unwrap(), port),
            v4: Endpoint4::new("192.0.2.1".parse().unwrap(), port),
            is_static: false,
            sessions: 1,
        }
    }

    /// Pages of 3 entries from a table of 10, as a listing platd serves.
    fn ten_entries(req: &Request) -> Option<String> {
        let Command::ShowBib(q) = req.command else {
            panic!("{:?}", req.command)
        };
        let from = q.cursor.map_or(0, |c| c.slot);
        let to = (from + 3).min(10).min(from + q.limit);
        let listing = Listing {
            entries: (from..to).map(|p| bib(p as u16)).collect(),
            next: (to < 10).then_some(Cursor {
                worker: 0,
                slot: to,
            }),
            count: q.count.then_some(u64::from(to - from)),
        };
        Some(reply(req.id, Outcome::Ok(Answer::Bib(listing))))
    }

    fn plan(want: Option<u64>, count: bool) -> ListPlan {
        ListPlan {
            of: Listed::Bib,
            query: ListQuery {
                limit: page_limit(want),
                count,
                ..ListQuery::default()
            },
            want,
        }
    }

    #[test]
    fn a_listing_follows_next_until_it_has_its_limit() {
        let path = socket_path();
        let server = serve(&path, 1, ten_entries);
        let mut c = Client::new(&path);
        let Answer::Bib(l) = c.list(&plan(Some(5), false)).unwrap() else {
            panic!()
        };
        let ports: Vec<u16> = l.entries.iter().map(|b| b.v6.port).collect();
        assert_eq!(ports, [0, 1, 2, 3, 4]);
        assert_eq!(l.next, Some(Cursor { worker: 0, slot: 5 }));

        let Answer::Bib(l) = c.list(&plan(None, false)).unwrap() else {
            panic!()
        };
        assert_eq!((l.entries.len(), l.next), (10, None));

        let Answer::Bib(l) = c.list(&plan(Some(100), true)).unwrap() else {
            panic!()
        };
        assert_eq!(l.count, Some(10));
        drop(c);
        let seen = server.join().unwrap();
        // 2 pages, then 4, then 4; the second page asks for what is left.
        assert_eq!(seen.len(), 10);
        let second: Request = serde_json::from_str(&seen[1]).unwrap();
        let Command::ShowBib(q) = second.command else {
            panic!()
        };
        assert_eq!(
            (q.limit, q.cursor),
            (2, Some(Cursor { worker: 0, slot: 3 }))
        );
    }

    #[test]
    fn a_listing_that_never_moves_on_is_an_error() {
        let path = socket_path();
        let server = serve(&path, 1, |req| {
            let listing: Listing<BibInfo> = Listing {
                entries: Vec::new(),
                next: Some(Cursor { worker: 0, slot: 4 }),
                count: None,
            };
            Some(reply(req.id, Outcome::Ok(Answer::Bib(listing))))
        });
        let mut c = Client::new(&path);
        let err = c.list(&plan(None, false)).unwrap_err();
        assert!(matches!(err, Error::Stuck(_)), "{err}");
        drop(c);
        server.join().unwrap();
    }
}
