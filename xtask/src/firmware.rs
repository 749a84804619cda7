//! `cargo xtask firmware-size`: builds the firmware example (`examples/firmware`, a Cortex-M4F
//! STM32F411 running qmt-async) in release and reads its size from the ELF.
//!
//! It prints, in this order:
//! - the allocated sections and their sizes;
//! - what dominates flash: bytes per crate and the largest symbols (demangled);
//! - what dominates static RAM: the largest `.bss`/`.data` symbols (the heap, the executor's task
//!   storage, the UART buffers);
//! - the heap the same session needs, measured on the host by `qmt-async`'s `heap` example, beside
//!   the heap the firmware reserves (a warning when the reservation is smaller);
//! - two last lines that other tools read: `flash: <n> KiB` (`.vector_table` + `.text` +
//!   `.rodata` + `.data`'s load image: every allocated section with contents) and `ram: <n> KiB`
//!   (every allocated writable section: `.data` + `.bss` + `.uninit`, the heap included; the stack
//!   is the rest of the part's RAM and is not counted).
//!
//! The build is the check: it fails when the firmware does not build or the ELF cannot be read,
//! never because of a figure (issue 16's goals are 64 KiB of flash and 16 KiB of RAM).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use object::elf::{SHF_ALLOC, SHF_WRITE};
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SectionKind, SymbolKind};

use crate::{Failure, NO_STD_TARGET, Step, ensure_target, step};

/// The firmware example's directory, its package name and where its build goes (inside the
/// workspace's `target/`, so it is cached and ignored like the rest).
const DIR: &str = "examples/firmware";
const BIN: &str = "qmt-firmware-example";
const TARGET_DIR: &str = "target/firmware";

/// The symbol of the firmware's heap reservation (`examples/firmware/src/main.rs`).
const HEAP_SYMBOL: &str = "HEAP_MEM";

/// One allocated section.
struct Section {
    name: String,
    size: u64,
    /// It has contents in the image (not `NOBITS`): it is stored in flash.
    in_flash: bool,
    /// It is writable: it lives in RAM.
    in_ram: bool,
}

/// One sized symbol of an allocated section.
struct Symbol {
    name: String,
    size: u64,
    in_flash: bool,
    in_ram: bool,
}

/// Builds the firmware example and prints its sections, what dominates them, and its flash and
/// RAM figures.
pub fn firmware_size(root: &Path) -> Step {
    step(
        "firmware-size: build examples/firmware in release (thumbv7em-none-eabihf, opt-level z, LTO)",
    );
    ensure_target(root, NO_STD_TARGET)?;
    let dir = root.join(DIR);
    let target_dir = root.join(TARGET_DIR);
    let status = Command::new("cargo")
        .args(["build", "--release"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(&dir)
        .status()
        .map_err(|e| Failure(format!("cannot start cargo build in {DIR}: {e}")))?;
    if !status.success() {
        return Err(Failure(format!(
            "`cargo build --release` in {DIR} exited with {status}"
        )));
    }
    let elf = target_dir.join(NO_STD_TARGET).join("release").join(BIN);
    let data =
        std::fs::read(&elf).map_err(|e| Failure(format!("cannot read {}: {e}", elf.display())))?;
    let (sections, symbols) = read_elf(&data)?;

    step("sections");
    for s in &sections {
        let place = match (s.in_flash, s.in_ram) {
            (true, true) => "flash + RAM",
            (true, false) => "flash",
            (false, true) => "RAM",
            (false, false) => "-",
        };
        println!("{:<16} {:>8} bytes  {place}", s.name, s.size);
    }

    step("flash by crate (sized symbols in flash sections)");
    let flash_syms: Vec<&Symbol> = symbols.iter().filter(|s| s.in_flash && !s.in_ram).collect();
    let mut by_crate: BTreeMap<String, u64> = BTreeMap::new();
    for s in &flash_syms {
        *by_crate.entry(crate_of(&s.name)).or_default() += s.size;
    }
    let mut crates: Vec<(String, u64)> = by_crate.into_iter().collect();
    crates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let sized: u64 = crates.iter().map(|c| c.1).sum();
    for (name, size) in crates.iter().take(14) {
        println!("{:>8} bytes  {:>5.1} %  {name}", size, pct(*size, sized));
    }
    println!("{sized:>8} bytes in sized symbols (the rest: padding, literal pools, tables)");

    step("largest symbols in flash");
    print_largest(&flash_syms, 15);

    step("largest symbols in RAM");
    let ram_syms: Vec<&Symbol> = symbols.iter().filter(|s| s.in_ram).collect();
    print_largest(&ram_syms, 8);

    step("heap: measured on the host (cargo run -p qmt-async --example heap) vs reserved");
    let reserved = symbols
        .iter()
        .find(|s| s.in_ram && s.name.contains(HEAP_SYMBOL))
        .map(|s| s.size);
    let peak = heap_peak(root)?;
    match reserved {
        Some(r) => {
            println!(
                "the session's heap peak: {peak} bytes; the firmware reserves {r} bytes ({HEAP_SYMBOL})"
            );
            if r < peak {
                println!(
                    "warning: the firmware's heap ({r} bytes) is smaller than the measured peak ({peak} bytes)"
                );
            }
        }
        None => println!(
            "the session's heap peak: {peak} bytes; no `{HEAP_SYMBOL}` symbol found in the ELF"
        ),
    }

    let flash: u64 = sections.iter().filter(|s| s.in_flash).map(|s| s.size).sum();
    let ram: u64 = sections.iter().filter(|s| s.in_ram).map(|s| s.size).sum();
    println!();
    println!("flash: {:.1} KiB", kib(flash));
    println!("ram: {:.1} KiB", kib(ram));
    Ok(())
}

/// The allocated sections and the sized symbols in them.
fn read_elf(data: &[u8]) -> Result<(Vec<Section>, Vec<Symbol>), Failure> {
    let file = object::File::parse(data).map_err(|e| Failure(format!("not an ELF file: {e}")))?;
    let mut sections = Vec::new();
    // Section index → (in flash, in RAM), for the symbols.
    let mut places = BTreeMap::new();
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags } = section.flags() else {
            continue;
        };
        if sh_flags & u64::from(SHF_ALLOC) == 0 || section.size() == 0 {
            continue;
        }
        // `NOBITS` sections (`.bss`, `.uninit`) take RAM but no flash.
        let nobits = matches!(
            section.kind(),
            SectionKind::UninitializedData | SectionKind::UninitializedTls
        );
        let s = Section {
            name: section.name().unwrap_or("?").to_string(),
            size: section.size(),
            in_flash: !nobits,
            in_ram: sh_flags & u64::from(SHF_WRITE) != 0,
        };
        places.insert(section.index().0, (s.in_flash, s.in_ram));
        sections.push(s);
    }
    let mut symbols = Vec::new();
    for sym in file.symbols() {
        if sym.size() == 0 || !matches!(sym.kind(), SymbolKind::Text | SymbolKind::Data) {
            continue;
        }
        let Some(&(in_flash, in_ram)) = sym.section_index().and_then(|i| places.get(&i.0)) else {
            continue;
        };
        let raw = sym.name().unwrap_or("?");
        symbols.push(Symbol {
            name: format!("{:#}", rustc_demangle::demangle(raw)),
            size: sym.size(),
            in_flash,
            in_ram,
        });
    }
    Ok((sections, symbols))
}

/// The crate a demangled symbol belongs to: its path's first segment, looking through the
/// `<T as Trait>` and `&`/`*` forms to the type's crate; names without a path (C runtime, linker
/// symbols) count as `[other]`.
fn crate_of(name: &str) -> String {
    let trimmed = name.trim_start_matches(['<', '&', '*', '(', '[']);
    let trimmed = trimmed
        .strip_prefix("mut ")
        .or_else(|| trimmed.strip_prefix("const "))
        .or_else(|| trimmed.strip_prefix("dyn "))
        .unwrap_or(trimmed);
    match trimmed.split_once("::") {
        Some((first, _)) if !first.is_empty() && !first.contains([' ', '<', '>']) => {
            first.to_string()
        }
        _ => "[other]".to_string(),
    }
}

fn print_largest(symbols: &[&Symbol], n: usize) {
    let mut sorted: Vec<&&Symbol> = symbols.iter().collect();
    sorted.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    for s in sorted.iter().take(n) {
        println!("{:>8} bytes  {}", s.size, shorten(&s.name, 110));
    }
}

/// A long demangled name cut to `max` characters (generic arguments make some very long).
fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let cut: String = name.chars().take(max).collect();
    format!("{cut}…")
}

/// Runs the host heap measurement and returns its peak in bytes.
fn heap_peak(root: &Path) -> Result<u64, Failure> {
    // The debug build `cargo test --workspace` already made; the figure does not depend on the
    // optimisation level (the same allocations are made).
    let out = Command::new("cargo")
        .args(["run", "-q", "-p", "qmt-async", "--example", "heap"])
        .current_dir(root)
        .output()
        .map_err(|e| Failure(format!("cannot run the heap example: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Failure(format!(
            "the heap example exited with {}: {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("heap:"))
        .ok_or_else(|| {
            Failure(format!(
                "the heap example printed no `heap:` line: {stdout}"
            ))
        })?;
    println!("{line}");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Failure(format!("cannot read the peak in `{line}`")))
}

fn kib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::crate_of;

    #[test]
    fn crate_of_reads_the_path_and_looks_through_impls() {
        assert_eq!(
            crate_of("qmt_client::sansio::ModemCore::poll"),
            "qmt_client"
        );
        assert_eq!(
            crate_of("<qmt_proto::Command as core::fmt::Debug>::fmt"),
            "qmt_proto"
        );
        assert_eq!(
            crate_of("<&mut T as core::fmt::Write>::write_str"),
            "[other]"
        );
        assert_eq!(
            crate_of("core::ptr::drop_in_place<alloc::string::String>"),
            "core"
        );
        assert_eq!(crate_of("memcpy"), "[other]");
        assert_eq!(crate_of("__aeabi_memcpy"), "[other]");
    }
}
