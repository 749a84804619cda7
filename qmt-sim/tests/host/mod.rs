//! A host on the module core's serial line, with its own clock: the module tests
//! (`module_network.rs`, `module_files_clock.rs`) script bytes and time through it.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use qmt_sim::NetworkSim;
use qmt_sim::fault::Fault;
use qmt_sim::module::Module;
use qmt_sim::net::{NetAction, NetEvent};

/// `\r\n<line>\r\n` for each line.
pub fn lines(ls: &[&str]) -> String {
    ls.iter().map(|l| format!("\r\n{l}\r\n")).collect()
}

/// A host on the serial line, with its own clock.
pub struct Host {
    pub m: Module,
    pub now: Instant,
}

impl Host {
    /// A module with this network, powered up now; nothing read yet.
    pub fn with(network: NetworkSim) -> Host {
        let now = Instant::now();
        Host {
            m: Module::with_network(now, network),
            now,
        }
    }

    /// A module with this network, booted (after its boot delay), echo off.
    pub fn booted(network: NetworkSim) -> Host {
        let delay = network.boot_delay;
        let mut h = Host::with(network);
        assert!(h.wait(delay).contains("RDY"));
        assert_eq!(h.send("ATE0\r"), "ATE0\r\r\nOK\r\n");
        h
    }

    /// Everything the module has written.
    pub fn read(&mut self) -> String {
        let mut all = Vec::new();
        while let Some(chunk) = self.m.poll_output() {
            all.extend(chunk);
        }
        String::from_utf8(all).unwrap()
    }

    /// Writes `s`; the module's answer.
    pub fn send(&mut self, s: &str) -> String {
        self.m.feed(s.as_bytes(), self.now);
        self.read()
    }

    /// Lets `d` pass, firing every deadline on the way.
    pub fn wait(&mut self, d: Duration) -> String {
        let end = self.now + d;
        while let Some(t) = self.m.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.m.handle_timeout(self.now);
        }
        self.now = end;
        self.m.handle_timeout(self.now);
        self.read()
    }

    /// What the module asked of the network.
    pub fn net(&mut self) -> Vec<NetAction> {
        std::iter::from_fn(|| self.m.poll_net()).collect()
    }

    pub fn inject(&mut self, f: Fault) -> String {
        self.m.inject(f, self.now);
        self.read()
    }

    /// `AT+QMTOPEN` of client `idx`; when the module went to the network, the connection is
    /// played as successful. The module's whole answer.
    pub fn open(&mut self, idx: i64) -> String {
        let mut out = self.send(&format!("AT+QMTOPEN={idx},\"broker.test\",1883\r"));
        if let [NetAction::Connect { client_idx, .. }] = self.net().as_slice() {
            self.m.handle_net(
                NetEvent::Connected {
                    client_idx: *client_idx,
                },
                self.now,
            );
            out.push_str(&self.read());
        }
        out
    }

    /// Uploads `data` to `name`; the whole answer.
    pub fn upload(&mut self, name: &str, data: &[u8]) -> String {
        let mut out = self.send(&format!("AT+QFUPL=\"{name}\",{},10\r", data.len()));
        if out.contains("CONNECT") {
            self.m.feed(data, self.now);
            out.push_str(&self.read());
        }
        out
    }
}
