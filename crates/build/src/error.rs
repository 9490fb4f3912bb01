//! The error every Dockerfile-reading step returns: where, and what.

use thiserror::Error;

use crate::shell_lexer::LexError;

/// Where in the Dockerfile something is (1-based lines and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Location {
    /// First physical line of the instruction.
    pub line: usize,
    /// Last physical line (continuations and heredoc bodies included).
    pub end_line: usize,
    /// Column of the instruction's first character on `line`.
    pub column: usize,
}

impl Location {
    /// A location on one line.
    pub fn at(line: usize, column: usize) -> Self {
        Location { line, end_line: line, column }
    }
}

/// A Dockerfile error at a place. Displays like Docker's
/// `dockerfile parse error on line N: …`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("dockerfile parse error on line {}: {kind}", location.line)]
pub struct DockerfileError {
    pub location: Location,
    pub kind: ErrorKind,
}

impl DockerfileError {
    pub fn new(location: Location, kind: ErrorKind) -> Self {
        DockerfileError { location, kind }
    }
    /// The line the problem starts on.
    pub fn line(&self) -> usize {
        self.location.line
    }
}

/// The problem, worded as Docker words it where Docker has a wording.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    #[error("file with no instructions")]
    NoInstructions,
    #[error("unknown instruction: {0}")]
    UnknownInstruction(String),
    #[error("no build stage in current context")]
    NoBuildStage,
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscapeToken(String),
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStringArray,
    #[error("{0} must have two arguments")]
    MissingValue(&'static str),
    #[error("Syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
    #[error("unknown flag: {0}")]
    UnknownFlag(String),
    #[error("duplicate flag specified: {0}")]
    DuplicateFlag(String),
    #[error("missing a value on flag: {0}")]
    MissingFlagValue(String),
    #[error("expecting boolean value for flag {flag}, not: {value}")]
    BadBoolFlag { flag: String, value: String },
    #[error("arg should start with -- : {0}")]
    FlagWithoutDashes(String),
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(&'static str),
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(&'static str),
    #[error("{0} requires at least two arguments, but only one was provided. Destination could not be determined")]
    NoDestination(&'static str),
    #[error("{0} cannot accept a heredoc as a destination")]
    HeredocDestination(&'static str),
    #[error("{0} names can not be blank")]
    BlankName(&'static str),
    #[error("Bad input to {0}, too many arguments")]
    TooManyArguments(&'static str),
    #[error("{0} requires the arguments to be in JSON form")]
    NotJson(&'static str),
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    #[error("invalid name for build stage: {0:?}, name can't start with a number or contain symbols")]
    InvalidStageName(String),
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(String),
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArguments,
    #[error("Missing command after HEALTHCHECK CMD")]
    HealthcheckMissingCommand,
    #[error("Unknown type {0:?} in HEALTHCHECK (try CMD)")]
    HealthcheckType(String),
    #[error("Interval {0:?} cannot be less than 1ms")]
    IntervalTooShort(String),
    #[error("time: invalid duration {0:?}")]
    InvalidDuration(String),
    #[error("--retries cannot be negative ({0})")]
    NegativeRetries(i64),
    #[error("strconv.ParseInt: parsing {0:?}: invalid syntax")]
    InvalidInteger(String),
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    #[error("invalid network mode {0:?}")]
    InvalidNetwork(String),
    #[error("security {0:?} is not valid")]
    InvalidSecurity(String),
    #[error("{0}")]
    Mount(#[from] MountError),
    #[error("{0}")]
    Lex(#[from] LexError),
    #[error("base name ({0}) should not be blank")]
    BlankBaseName(String),
    #[error("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")]
    FromExpansion,
    #[error("'{0}' doesn't support variable expansion, define alias stage instead")]
    MountFromExpansion(String),
}

/// Problems in a `RUN --mount=…` value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MountError {
    #[error("failed to parse csv mounts: {0}")]
    Csv(String),
    #[error("invalid field '{0}' must be a key=value pair")]
    NotKeyValue(String),
    #[error("unsupported mount type {0:?}")]
    UnsupportedType(String),
    #[error("unsupported sharing value {0:?}")]
    UnsupportedSharing(String),
    #[error("invalid value for {key}: {value}")]
    InvalidValue { key: String, value: String },
    #[error("invalid value {value} for {key}")]
    InvalidNumber { key: &'static str, value: String },
    #[error("unexpected key '{key}' for mount type '{mount_type}'")]
    KeyNotForType { key: String, mount_type: String },
    #[error("unexpected key '{key}' in '{field}'")]
    UnknownKey { key: String, field: String },
    #[error("{0} not allowed for {1:?} type mounts")]
    FileInfoNotAllowed(&'static str, String),
    #[error("secret mount should not have a from")]
    SecretWithFrom,
    #[error("secret mount should not define sharing")]
    SecretWithSharing,
    #[error("invalid secret mount. one of source, target required")]
    SecretWithoutTarget,
    #[error("both source and id can't be set")]
    SecretSourceAndId,
    #[error("invalid cache sharing set for {0} mount")]
    SharingNotCache(String),
}
