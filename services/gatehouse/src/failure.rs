//! How a command failed: one class per kind of failure, each its own exit
//! status (documented in docs/cli.md), and with `--output json` the error as
//! one JSON document on standard error, so that a script can tell "not
//! there" from "registry down" without reading prose.

use std::fmt::Display;
use std::process::ExitCode;

use crate::cli::OutputFormat;

/// The kind of a failure, which decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Anything else (a broken audit chain, an internal error): exit 1.
    Failed,
    /// The command line or a value in it is wrong: exit 2 (as for clap's own errors).
    Usage,
    /// What the command names does not exist: exit 3.
    NotFound,
    /// It exists already, or its state forbids the change: exit 4.
    Conflict,
    /// The caller is not known or not allowed: exit 5.
    Permission,
    /// A service cannot be reached or asks to retry later: exit 6.
    Unavailable,
}

impl Class {
    pub(crate) const ALL: [Self; 6] =
        [Self::Failed, Self::Usage, Self::NotFound, Self::Conflict, Self::Permission, Self::Unavailable];

    pub(crate) const fn exit_status(self) -> u8 {
        match self {
            Self::Failed => 1,
            Self::Usage => 2,
            Self::NotFound => 3,
            Self::Conflict => 4,
            Self::Permission => 5,
            Self::Unavailable => 6,
        }
    }

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Usage => "usage",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Permission => "permission",
            Self::Unavailable => "unavailable",
        }
    }

    /// What the class means, for the reference.
    pub(crate) const fn meaning(self) -> &'static str {
        match self {
            Self::Failed => "any other failure (a broken audit chain, an internal error)",
            Self::Usage => "the command line is wrong, or a value in it was refused as invalid",
            Self::NotFound => "the user, application, token or key named does not exist",
            Self::Conflict => "it exists already, or its current state forbids the change",
            Self::Permission => "the credential is missing, unknown or not allowed this call",
            Self::Unavailable => "a service cannot be reached, timed out or asks to retry later",
        }
    }

    /// The class of a gRPC status.
    pub(crate) fn of(code: tonic::Code) -> Self {
        use tonic::Code;
        match code {
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => Self::Conflict,
            Code::PermissionDenied | Code::Unauthenticated => Self::Permission,
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Cancelled | Code::Unknown => {
                Self::Unavailable
            }
            Code::InvalidArgument | Code::OutOfRange => Self::Usage,
            Code::Ok | Code::Unimplemented | Code::Internal | Code::DataLoss => Self::Failed,
        }
    }
}

/// A failure with its class (and the gRPC code it came from, if any).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Failure {
    pub(crate) class: Class,
    pub(crate) code: Option<tonic::Code>,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn error(class: Class, message: impl Display) -> anyhow::Error {
        anyhow::Error::new(Self { class, code: None, message: message.to_string() })
    }
}

/// A wrong command line or value: exit 2.
pub(crate) fn usage(message: impl Display) -> anyhow::Error {
    Failure::error(Class::Usage, message)
}

/// The class of `error`: the first classified failure in its chain.
fn class_of(error: &anyhow::Error) -> (Class, Option<tonic::Code>) {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Failure>())
        .map_or((Class::Failed, None), |failure| (failure.class, failure.code))
}

/// Reports `error` on standard error in the command's output format and
/// returns its exit status.
pub(crate) fn report(error: &anyhow::Error, format: OutputFormat) -> ExitCode {
    let (class, code) = class_of(error);
    match format {
        OutputFormat::Table => eprintln!("gatehouse: {error:#}"),
        OutputFormat::Json => {
            let document = serde_json::json!({
                "error": {
                    "class": class.name(),
                    "exit_status": class.exit_status(),
                    "grpc_code": code.map(gatehouse_runtime::metrics::code_name),
                    "message": format!("{error:#}"),
                }
            });
            eprintln!("{document}");
        }
    }
    ExitCode::from(class.exit_status())
}

impl crate::cli::Confirm {
    /// Asks before `what` is done (see [`crate::cli::Confirm`]).
    pub(crate) fn check(&self, what: &str) -> anyhow::Result<()> {
        use std::io::{BufRead, IsTerminal, Write};
        if self.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(usage(format!("this would {what}: add --yes to go ahead")));
        }
        eprint!("This will {what}. Type yes to go ahead: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map_err(|e| usage(format!("reading the answer: {e}")))?;
        if answer.trim() == "yes" { Ok(()) } else { Err(usage("not confirmed; nothing was changed")) }
    }
}
