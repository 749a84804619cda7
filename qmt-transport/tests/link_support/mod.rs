//! Shared helpers of the `link_*` integration tests: scripted module output, fake time.
#![allow(clippy::unwrap_used, dead_code)]

use std::time::Duration;

use qmt_proto::Command;
use qmt_transport::link::{
    CommandError, Line, Link, LinkConfig, LinkEvent, Response, Timeouts, Token,
};
use qmt_transport::time::Instant;

/// A command from its text (the parser is the one the simulator uses).
pub fn cmd(text: &str) -> Command {
    Command::parse(text.as_bytes()).unwrap()
}

/// Module lines as the module frames them: `\r\n<line>\r\n`; `> ` is the bare prompt `\r\n> `.
pub fn framed(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        if *l == "> " {
            out.extend_from_slice(b"\r\n> ");
        } else {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(l.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// What an ATE1 module echoes for a command: the line and its terminator.
pub fn echo(command: &Command) -> Vec<u8> {
    command.to_bytes()
}

pub fn link(now: Instant) -> Link {
    Link::new(LinkConfig::default(), now)
}

/// A link to a module that has answered before: a stray `OK` was heard, so a timeout is
/// resynchronised with markers (a module that never answered gets none: `silent_module_*`).
pub fn link_with(timeouts: Timeouts, queue_capacity: usize, now: Instant) -> Link {
    let mut link = Link::new(
        LinkConfig {
            timeouts,
            queue_capacity,
        },
        now,
    );
    link.feed(b"\r\nOK\r\n", now);
    assert!(matches!(link.poll_event(), Some(LinkEvent::Urc(_))));
    assert!(link.stats().heard);
    link
}

pub fn ms(now: Instant, n: u64) -> Instant {
    now + Duration::from_millis(n)
}

pub fn events(link: &mut Link) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

pub fn transmits(link: &mut Link) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| link.poll_transmit()).collect()
}

/// All bytes to write, as one string (lossy) for readable assertions.
pub fn written(link: &mut Link) -> String {
    String::from_utf8_lossy(&transmits(link).concat()).into_owned()
}

pub fn line(s: &str) -> Line {
    Line::new(s.as_bytes().to_vec())
}

pub fn urc(s: &str) -> LinkEvent {
    LinkEvent::Urc(line(s))
}

pub fn done(token: Token, info: &[&str], final_code: &str) -> LinkEvent {
    LinkEvent::Completed {
        token,
        result: Ok(Response {
            info: info.iter().map(|l| line(l)).collect(),
            final_code: line(final_code),
        }),
    }
}

pub fn failed(token: Token, error: CommandError) -> LinkEvent {
    LinkEvent::Completed {
        token,
        result: Err(error),
    }
}
