//! The command line's grammar (clap): global connection options and every subcommand, each with
//! its own `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::formats::Format;

#[derive(Debug, Parser)]
#[command(
    name = "secret-groups",
    version,
    about = "Read and change secret groups, export and import .env files, and run programs with their secrets",
    after_help = "Connection: --url/SG_URL and --token/SG_TOKEN, else the profile written by `secret-groups login`.\n\
                  Names: a group is GROUP or TENANT:GROUP, a secret GROUP:KEY or TENANT:GROUP:KEY."
)]
pub struct Cli {
    /// The server's root URL, e.g. http://127.0.0.1:8080 (beats the profile's)
    #[arg(long, env = "SG_URL", global = true)]
    pub url: Option<String>,
    /// The API token (beats the profile's). Prefer SG_TOKEN or `login`: a flag shows in `ps`
    #[arg(long, env = "SG_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// The profile in the config file to use
    #[arg(long, env = "SG_PROFILE", global = true, default_value = "default")]
    pub profile: String,
    /// How to print results: aligned text, or JSON for scripts
    #[arg(long, value_enum, global = true, default_value = "text")]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save a server URL and a token (read from stdin) in a profile, after checking them
    Login {
        /// The server's root URL
        #[arg(long, env = "SG_URL")]
        url: String,
    },
    /// Secret groups: list, show, create, delete
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Print one secret's value (GROUP:KEY), or every key and value of a group (GROUP)
    Get {
        /// GROUP:KEY or TENANT:GROUP:KEY for one value; GROUP for all
        name: String,
        /// Format for a whole group
        #[arg(long, value_enum, default_value = "env")]
        format: Format,
    },
    /// Set keys of a group, keeping the others (a value changes only if it differs)
    Set(SetArgs),
    /// Remove keys from a group, keeping the others
    Unset {
        /// GROUP or TENANT:GROUP
        group: String,
        /// Keys to remove
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Write a group's keys and values as .env, JSON or YAML
    Export {
        /// GROUP or TENANT:GROUP
        group: String,
        #[arg(long, value_enum, default_value = "env")]
        format: Format,
        /// Write to this file (created 0600) instead of stdout
        #[arg(short = 'o', long = "output-file", value_name = "FILE")]
        output_file: Option<PathBuf>,
    },
    /// Set a group's keys from a .env, JSON or YAML file (creating the group if needed)
    Import {
        /// GROUP or TENANT:GROUP
        group: String,
        file: PathBuf,
        /// The file's format (default: from its extension; .json, .yaml/.yml, else env)
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// A secret's versions (values only with --values)
    History {
        /// GROUP:KEY or TENANT:GROUP:KEY
        secret: String,
        /// Show each version's value too
        #[arg(long)]
        values: bool,
    },
    /// Run a command with groups' keys and resolved tfy-secret:// references in its environment
    Run(RunArgs),
    /// Render a template, replacing {{ tfy-secret://TENANT:GROUP:KEY }} by values
    Inject {
        /// The template
        #[arg(short = 'i', long = "in-file", value_name = "TEMPLATE")]
        input: PathBuf,
        /// Write here (created 0600) instead of stdout
        #[arg(short = 'o', long = "out-file", value_name = "OUT")]
        output_file: Option<PathBuf>,
    },
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Every group you can see (names and keys, never values)
    List {
        /// Only groups whose name or one of whose keys contains this (case-insensitive)
        #[arg(long)]
        search: Option<String>,
    },
    /// One group: its FQN, id and keys (never values)
    Get {
        /// GROUP or TENANT:GROUP
        group: String,
    },
    /// Create a group, optionally with keys
    Create {
        /// GROUP
        group: String,
        /// KEY=VALUE pairs (KEY=- reads the value from stdin)
        pairs: Vec<String>,
        /// Also take pairs from a .env, JSON or YAML file
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
    },
    /// Delete a group with all its keys and versions
    Delete {
        /// GROUP or TENANT:GROUP
        group: String,
        /// Do not ask for confirmation (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// GROUP or TENANT:GROUP
    pub group: String,
    /// KEY=VALUE pairs; KEY=- reads the value from stdin (one trailing newline dropped)
    pub pairs: Vec<String>,
    /// Also take pairs from a .env, JSON or YAML file
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A group whose keys become variables (repeatable; later groups win)
    #[arg(long = "group", short = 'g', value_name = "GROUP")]
    pub groups: Vec<String>,
    /// A .env file whose variables are set before the groups' (repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Replace every secret value in the command's stdout and stderr by *****
    #[arg(long)]
    pub mask: bool,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}
