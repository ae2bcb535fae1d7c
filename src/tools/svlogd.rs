//! `svlogd`: runit's service logging daemon, a second front end on the log
//! engine multilog uses. Reads lines on standard input and appends the
//! selected ones to one or more automatically rotated log directories, each
//! with its own `config` (size, number of files, age, processor, patterns,
//! prefix, UDP). `HUP` rereads the configs, `ALRM` rotates, `TERM` or end
//! of input ends. See `docs/svlogd.md`.
//!
//! As multilog, it takes a batch off a pipe only once it is written (see
//! `log::once`), so a logger killed and restarted on the same pipe loses and
//! doubles no line.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::PathBuf;

use crate::errstr;
use crate::fail::{self, Failure};
use crate::log::dir::svlogd::SvlogdDir;
use crate::log::dir::{Current, LogDir, Style};
use crate::log::engine::Engine;
use crate::log::run;
use crate::log::svlogd_config::{Config, Options, parse_config, parse_options, script};

const PROG: &str = "svlogd";

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let opts = parse_options(&args)?;
    let style = Style::Svlogd { verbose: opts.verbose };
    let (engine, dirs) = open_all(&opts, style)?;
    let reload = || open_all(&opts, style);
    run::run(style, engine, dirs, Vec::new(), Some(&reload))?;
    Ok(0)
}

/// Lock every log directory that can be used (warning about the others)
/// and read its config; the engine for them. Fatal if none works.
fn open_all(opts: &Options, style: Style) -> Result<(Engine, Vec<Box<dyn LogDir>>), Failure> {
    let mut locked = Vec::with_capacity(opts.dirs.len());
    let mut configs = Vec::with_capacity(opts.dirs.len());
    for name in &opts.dirs {
        let path = PathBuf::from(name);
        match Current::lock(&path, style) {
            Ok(current) => {
                configs.push((path, read_config(name, style)));
                locked.push(current);
            }
            Err(failure) => fail::warn(PROG, &failure.message),
        }
    }
    if locked.is_empty() {
        return Err(Failure::temporary("no functional log directories."));
    }
    let script = script(opts, &configs);
    let dirs = locked
        .into_iter()
        .zip(&script.dirs)
        .map(|(current, spec)| Box::new(SvlogdDir::new(current, spec.clone())) as Box<dyn LogDir>)
        .collect();
    Ok((Engine::new(&script), dirs))
}

/// A directory's `config`, the defaults if there is none; warnings for
/// lines that cannot be used.
fn read_config(name: &OsString, style: Style) -> Config {
    let shown = name.to_string_lossy();
    match fs::read(PathBuf::from(name).join("config")) {
        Ok(text) => {
            style.info(|| format!("read: {shown}/config"));
            let (config, warnings) = parse_config(&text);
            for warning in warnings {
                fail::warn(PROG, warning);
            }
            config
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Config::default(),
        Err(err) => {
            fail::warn(PROG, format!("unable to read config: {shown}: {}", errstr::io_str(&err)));
            Config::default()
        }
    }
}
