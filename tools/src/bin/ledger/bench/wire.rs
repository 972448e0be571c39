//! A minimal HTTP/1.1 load client for `ledger bench`, in the manner of
//! `wrk`: each client holds one keep-alive connection, writes requests that
//! were written out in full before the clock started, and reads each answer
//! just far enough to know it is complete and successful (status line,
//! `Content-Length`, body).
//!
//! It exists because the load generator shares the machine with the server:
//! a general-purpose client (reqwest) spends about as much CPU per request
//! as the server does, and that CPU is taken from the server. Deliberately
//! not supported: chunked answers, pipelining, TLS, redirects — the
//! service's append answers need none of them, and an answer that uses one
//! is reported as an error, not guessed at.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::Run;

/// One request, exactly as it goes on the wire.
pub struct WireRequest(Vec<u8>);

impl WireRequest {
    /// A `POST` of a JSON body with a bearer token.
    pub fn post_json(host: &SocketAddr, path: &str, token: &str, body: &[u8]) -> Self {
        let mut out = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        WireRequest(out)
    }
}

/// Runs one connection per list, to the list's address, each sending its
/// requests in order and expecting `200` to each; times the whole and each
/// request. All connections are driven from one thread with an event loop
/// of its own, as `wrk` drives its connections: no task of the client
/// wakes another thread, and the client takes at most one core from the
/// server it measures.
///
/// `processes` are server processes whose CPU (with the machine's) is
/// sampled around the clock, as this process's threads are.
pub async fn run(
    requests: Vec<(SocketAddr, Vec<WireRequest>)>,
    processes: &[u32],
) -> anyhow::Result<Run> {
    let processes = processes.to_vec();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench-client".into())
        .spawn(move || {
            let out = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(run_here(requests, &processes)));
            let _ = tx.send(out);
        })?;
    rx.await.context("the load client's thread stopped")?
}

/// [`run`], on the calling thread's runtime.
async fn run_here(
    requests: Vec<(SocketAddr, Vec<WireRequest>)>,
    processes: &[u32],
) -> anyhow::Result<Run> {
    // Connect first, so the clock times requests, not handshakes.
    let mut conns = Vec::with_capacity(requests.len());
    for (addr, list) in requests {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        conns.push((stream, list));
    }
    let sample = super::cpu::ThreadSample::take();
    let machine = if processes.is_empty() {
        None
    } else {
        super::cpu::Sample::take(processes)
    };
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(conns.len());
    for (mut stream, list) in conns {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(list.len());
            let mut buf = Vec::with_capacity(4096);
            for request in list {
                let t = Instant::now();
                stream.write_all(&request.0).await?;
                let status = read_answer(&mut stream, &mut buf).await?;
                anyhow::ensure!(status == 200, "append answered {status}");
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let processes = machine
        .zip(super::cpu::Sample::take(processes))
        .map(|(b, a)| a.since(&b));
    Ok(Run {
        events: latencies.len() as u64,
        elapsed,
        latencies,
        threads: sample
            .zip(super::cpu::ThreadSample::take())
            .map(|(b, a)| a.since(&b)),
        groups: None,
        processes,
    })
}

/// Reads one whole answer from `stream` and gives its status code. `buf`
/// is scratch space, reused between answers; the server never sends more
/// than one answer at a time here, so nothing is left over.
async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<u16> {
    buf.clear();
    let head_end = loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            break end + 4;
        }
        anyhow::ensure!(buf.len() < 64 * 1024, "an answer head over 64 KiB");
        if read_more(stream, buf).await? == 0 {
            anyhow::bail!("the server closed the connection mid-answer");
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("an answer head not in UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse::<usize>()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            anyhow::bail!("a {} answer, which this client does not read", value.trim());
        }
    }
    let length = length.context("an answer without Content-Length")?;
    while buf.len() < head_end + length {
        if read_more(stream, buf).await? == 0 {
            anyhow::bail!("the server closed the connection mid-body");
        }
    }
    anyhow::ensure!(
        buf.len() == head_end + length,
        "the server sent more than one answer"
    );
    Ok(status)
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    // Into the spare capacity: nothing is zeroed first.
    buf.reserve(4096);
    stream.read_buf(buf).await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request with the next canned answer,
    /// written in the pieces given, a little apart (so the client must
    /// read more than once), then closes the connection.
    async fn canned(answers: Vec<Vec<&'static [u8]>>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            for answer in answers {
                // Read one request (head and its small body arrive together
                // on loopback, as written in one call).
                let _ = s.read(&mut buf).await.unwrap();
                for piece in answer {
                    s.write_all(piece).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        });
        addr
    }

    fn one_request(addr: &SocketAddr) -> Vec<(SocketAddr, Vec<WireRequest>)> {
        vec![(
            *addr,
            vec![WireRequest::post_json(addr, "/v1/x", "t", b"{}")],
        )]
    }

    #[tokio::test]
    async fn reads_answers_split_across_reads_on_one_connection() {
        let addr = canned(vec![
            vec![
                b"HTTP/1.1 200 OK\r\ncont",
                b"ent-length: 2\r\n\r",
                b"\n{",
                b"}",
            ],
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"],
        ])
        .await;
        let requests = vec![(
            addr,
            vec![
                WireRequest::post_json(&addr, "/v1/x", "t", b"{}"),
                WireRequest::post_json(&addr, "/v1/x", "t", b"{}"),
            ],
        )];
        // This process stands in for a server whose CPU is sampled.
        let run = run(requests, &[std::process::id()]).await.unwrap();
        assert_eq!(run.events, 2);
        assert_eq!(run.latencies.len(), 2);
        if cfg!(target_os = "linux") {
            // Sampled around the clock, not around the connects before it.
            let cpu = run.processes.expect("a sample on Linux");
            let elapsed = run.elapsed.as_secs_f64();
            assert!(
                cpu.wall >= elapsed && cpu.wall < elapsed + 0.05,
                "sampled over {:.3} s, timed {elapsed:.3} s",
                cpu.wall
            );
        }
    }

    #[tokio::test]
    async fn a_refusal_is_an_error_naming_the_status() {
        let addr = canned(vec![vec![
            b"HTTP/1.1 409 Conflict\r\ncontent-length: 0\r\n\r\n",
        ]])
        .await;
        let err = run(one_request(&addr), &[]).await.unwrap_err();
        assert!(err.to_string().contains("409"), "{err}");
    }

    #[tokio::test]
    async fn a_chunked_answer_is_refused_not_guessed_at() {
        let addr = canned(vec![vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        ]])
        .await;
        let err = run(one_request(&addr), &[]).await.unwrap_err();
        assert!(err.to_string().contains("chunked"), "{err}");
    }

    #[tokio::test]
    async fn a_connection_closed_mid_body_is_an_error() {
        let addr = canned(vec![vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}",
        ]])
        .await;
        let err = run(one_request(&addr), &[]).await.unwrap_err();
        assert!(err.to_string().contains("mid-body"), "{err}");
    }
}
