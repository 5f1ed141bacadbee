//! Rendering of the templated SQL fragments found in metric-hub configs.
//!
//! Upstream (Python) uses three layers, reproduced here:
//!
//! 1. Jinja2 with `StrictUndefined` and no autoescaping, in two environments: one whose
//!    globals are the `agg_*` helpers of `definitions/functions.toml` (metric and segment
//!    select expressions, optionally with `parameters`), and a plain one that only sees an
//!    `experiment` object (enrollment queries and data-source `from_expression`s).
//!    MiniJinja stands in for Jinja2; the places where the two differ and matter for SQL
//!    (newline normalisation, trailing-newline drop, Python-style printing of values,
//!    a few Python `str`/`dict` methods) are patched up here.
//! 2. Python `str.format` with named arguments only: [`python_format`].
//! 3. `{experiment_slug}` substitution, which happens elsewhere.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use minijinja::value::{from_args, Enumerator, Kwargs, Object, ObjectRepr, Rest, Value, ValueKind};
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Output, State, Template, UndefinedBehavior,
};

/// The name under which enrollment queries and data sources see the experiment.
const EXPERIMENT_VAR: &str = "experiment";

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a Jinja template could not be rendered; `line` is 1-based within the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse.
    #[error("syntax error: {detail}{}", at_line(*line))]
    Syntax { detail: String, line: Option<usize> },
    /// A variable or attribute that is not defined was used (Jinja2's `StrictUndefined`).
    #[error("undefined variable `{name}`{}", at_line(*line))]
    UndefinedVariable { name: String, line: Option<usize> },
    /// An undefined value was used, but no variable name could be pinned on it.
    #[error("undefined value{}{}", in_expression(expression.as_deref()), at_line(*line))]
    UndefinedValue {
        expression: Option<String>,
        line: Option<usize>,
    },
    /// A function that is neither a helper from `functions.toml` nor a Jinja builtin.
    #[error("unknown function `{name}`{}", at_line(*line))]
    UnknownFunction { name: String, line: Option<usize> },
    /// An experiment attribute that exists but cannot be computed (e.g. no end date).
    #[error("{message}{}", at_line(*line))]
    Unavailable {
        message: String,
        line: Option<usize>,
    },
    /// A helper function was called wrongly, or its definition is not a valid format string.
    #[error("`{function}` {detail}{}", at_line(*line))]
    Function {
        function: String,
        detail: String,
        line: Option<usize>,
    },
    /// The template needs `experiment`, but it is rendered outside any experiment.
    #[error(
        "references `experiment`, but no experiment is available in this context{}",
        at_line(*line)
    )]
    NoExperiment { line: Option<usize> },
    /// Any other failure while rendering (bad operation, unknown filter, ...).
    #[error("{detail}{}", at_line(*line))]
    Render { detail: String, line: Option<usize> },
}

impl TemplateError {
    /// The 1-based line within the template, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            TemplateError::Syntax { line, .. }
            | TemplateError::UndefinedVariable { line, .. }
            | TemplateError::UndefinedValue { line, .. }
            | TemplateError::UnknownFunction { line, .. }
            | TemplateError::Unavailable { line, .. }
            | TemplateError::Function { line, .. }
            | TemplateError::NoExperiment { line }
            | TemplateError::Render { line, .. } => *line,
        }
    }
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

fn in_expression(expression: Option<&str>) -> String {
    expression.map(|e| format!(" in `{e}`")).unwrap_or_default()
}

/// Why a Python `str.format` template could not be expanded; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// `{name}` with no argument of that name (Python: `KeyError`).
    #[error("unknown placeholder `{{{name}}}` at line {line}")]
    UnknownName { name: String, line: usize },
    /// A `}` that neither closes a placeholder nor is doubled.
    #[error("single `}}` at line {line} (write `}}}}` for a literal brace)")]
    LoneClosingBrace { line: usize },
    /// A `{` whose placeholder never closes.
    #[error("unclosed `{{` at line {line} (write `{{{{` for a literal brace)")]
    UnclosedBrace { line: usize },
    /// Valid Python, but a form that configs never need (positional, spec, conversion, ...).
    #[error("unsupported placeholder `{{{field}}}` at line {line}: {reason}")]
    Unsupported {
        field: String,
        reason: &'static str,
        line: usize,
    },
}

/// Carried as the source of a MiniJinja error raised by an unavailable experiment attribute.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UnavailableAttribute(String);

/// Carried as the source of a MiniJinja error raised by a helper function.
#[derive(Debug, thiserror::Error)]
#[error("`{function}` {detail}")]
struct FunctionFailure {
    function: String,
    detail: String,
}

// ---------------------------------------------------------------------------------------------
// Experiment variables
// ---------------------------------------------------------------------------------------------

/// A value of an `experiment` attribute, shaped like the Python values templates see.
#[derive(Debug, Clone, PartialEq)]
pub enum ExperimentValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<ExperimentValue>),
    /// An object with attributes, e.g. a branch with `slug` and `ratio`.
    Map(BTreeMap<String, ExperimentValue>),
    /// An attribute whose access fails with this message (upstream raises), e.g.
    /// "experiment has no end date" or "Not a valid enrollment_query". Top level only.
    Unavailable(String),
}

impl ExperimentValue {
    fn to_value(&self) -> Value {
        match self {
            ExperimentValue::None => Value::from(()),
            ExperimentValue::Bool(b) => Value::from(*b),
            ExperimentValue::Int(i) => Value::from(*i),
            ExperimentValue::Float(f) => Value::from(*f),
            ExperimentValue::Str(s) => Value::from(s.as_str()),
            ExperimentValue::List(items) => {
                Value::from(items.iter().map(Self::to_value).collect::<Vec<_>>())
            }
            ExperimentValue::Map(fields) => {
                Value::from_iter(fields.iter().map(|(k, v)| (k.as_str(), v.to_value())))
            }
            ExperimentValue::Unavailable(message) => Value::from(
                Error::new(ErrorKind::InvalidOperation, message.clone())
                    .with_source(UnavailableAttribute(message.clone())),
            ),
        }
    }
}

impl From<&str> for ExperimentValue {
    fn from(s: &str) -> Self {
        ExperimentValue::Str(s.to_owned())
    }
}

impl From<String> for ExperimentValue {
    fn from(s: String) -> Self {
        ExperimentValue::Str(s)
    }
}

impl From<bool> for ExperimentValue {
    fn from(b: bool) -> Self {
        ExperimentValue::Bool(b)
    }
}

impl From<i64> for ExperimentValue {
    fn from(i: i64) -> Self {
        ExperimentValue::Int(i)
    }
}

impl From<f64> for ExperimentValue {
    fn from(f: f64) -> Self {
        ExperimentValue::Float(f)
    }
}

impl<T: Into<ExperimentValue>> From<Option<T>> for ExperimentValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(ExperimentValue::None, Into::into)
    }
}

impl<T: Into<ExperimentValue>> From<Vec<T>> for ExperimentValue {
    fn from(items: Vec<T>) -> Self {
        ExperimentValue::List(items.into_iter().map(Into::into).collect())
    }
}

/// The attributes of the `experiment` object templates see (`slug`, `start_date_str`,
/// `branches`, ...). Cheap to clone; attributes not set here are undefined.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExperimentVars {
    fields: Arc<BTreeMap<String, ExperimentValue>>,
}

impl ExperimentVars {
    /// An experiment without attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an attribute (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<ExperimentValue>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets an attribute.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<ExperimentValue>) {
        Arc::make_mut(&mut self.fields).insert(name.into(), value.into());
    }

    /// Makes accessing `name` fail with `message`, as upstream's raising properties do.
    pub fn set_unavailable(&mut self, name: impl Into<String>, message: impl Into<String>) {
        self.set(name, ExperimentValue::Unavailable(message.into()));
    }

    /// The attribute `name`, if set.
    pub fn get(&self, name: &str) -> Option<&ExperimentValue> {
        self.fields.get(name)
    }

    fn to_value(&self) -> Value {
        Value::from_object(ExperimentObject(Arc::clone(&self.fields)))
    }
}

/// The MiniJinja face of [`ExperimentVars`]: attribute access only, printed opaquely.
#[derive(Debug)]
struct ExperimentObject(Arc<BTreeMap<String, ExperimentValue>>);

impl Object for ExperimentObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_str()?).map(ExperimentValue::to_value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<experiment>")
    }
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/// The two Jinja environments of a config collection; build once, share freely.
pub struct Templates {
    /// Globals are the helper functions; renders select expressions.
    functions: Environment<'static>,
    /// No globals beyond Jinja's; renders queries that see `experiment`.
    plain: Environment<'static>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.functions.globals().map(|(name, _)| name).collect();
        f.debug_struct("Templates")
            .field("globals", &names)
            .finish()
    }
}

impl Templates {
    /// `functions` maps a helper name (`agg_sum`) to its Python-format definition
    /// (`COALESCE(SUM({select_expr}), 0)`); templates call it with one argument.
    pub fn new(functions: impl IntoIterator<Item = (String, String)>) -> Templates {
        let mut with_functions = base_environment();
        for (name, definition) in functions {
            let function = name.clone();
            with_functions.add_function(name, move |args: Rest<Value>| {
                call_helper(&function, &definition, &args)
            });
        }
        Templates {
            functions: with_functions,
            plain: base_environment(),
        }
    }

    /// Renders a metric or segment `select_expression`. Upstream passes `parameters` only
    /// when the raw template mentions "parameters"; pass `None` to leave it undefined.
    pub fn render_select_expression(
        &self,
        template: &str,
        parameters: Option<&BTreeMap<String, String>>,
    ) -> Result<String, TemplateError> {
        let context = match parameters {
            Some(parameters) => {
                Value::from_iter([("parameters", Value::from_serialize(parameters))])
            }
            None => Value::from_iter(std::iter::empty::<(&str, Value)>()),
        };
        render(&self.functions, template, &context)
    }

    /// Renders an `[experiment] enrollment_query` or a segment data source's
    /// `from_expression`: always through Jinja, with `experiment` in scope.
    pub fn render_with_experiment(
        &self,
        template: &str,
        experiment: &ExperimentVars,
    ) -> Result<String, TemplateError> {
        render(&self.plain, template, &experiment_context(experiment))
    }

    /// Renders a data source's `from_expression`, but only when it contains `{{`, parses
    /// as Jinja and references `experiment`; otherwise it is returned untouched, so that
    /// `{{`/`}}` escapes meant for the later `str.format` layer survive.
    pub fn render_from_expression(
        &self,
        template: &str,
        experiment: Option<&ExperimentVars>,
    ) -> Result<String, TemplateError> {
        if !template.contains("{{") {
            return Ok(template.to_owned());
        }
        let source = prepare_source(template);
        let env = &self.plain;
        let Ok(compiled) = compile(env, &source) else {
            return Ok(template.to_owned());
        };
        if !compiled
            .undeclared_variables(false)
            .contains(EXPERIMENT_VAR)
        {
            return Ok(template.to_owned());
        }
        let Some(experiment) = experiment else {
            return Err(TemplateError::NoExperiment {
                line: line_mentioning(&source, EXPERIMENT_VAR),
            });
        };
        let context = experiment_context(experiment);
        compiled
            .render(&context)
            .map_err(|err| convert_error(&err, &source, env, &context))
    }
}

fn experiment_context(experiment: &ExperimentVars) -> Value {
    Value::from_iter([(EXPERIMENT_VAR, experiment.to_value())])
}

/// An environment configured like upstream's `jinja2.Environment(autoescape=False,
/// undefined=StrictUndefined)`, with Python-style printing.
fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // `prepare_source` drops the trailing newline the way Jinja2 does (after normalising
    // line endings); MiniJinja must not drop a second one.
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(false);
    env.set_lstrip_blocks(false);
    // Keeps the span of a failing expression, used to name undefined variables.
    env.set_debug(true);
    env.set_formatter(python_formatter);
    env.set_unknown_method_callback(python_method);
    env
}

/// Renders `template`; text without any Jinja tag skips the engine but gets the same
/// newline treatment.
fn render(env: &Environment<'_>, template: &str, context: &Value) -> Result<String, TemplateError> {
    let source = prepare_source(template);
    if !has_jinja_tags(&source) {
        return Ok(source.into_owned());
    }
    compile(env, &source)
        .and_then(|compiled| compiled.render(context))
        .map_err(|err| convert_error(&err, &source, env, context))
}

/// Compiles a per-call source; `Environment<'static>` coerces to the source's shorter
/// lifetime, so nothing is leaked or stored in the environment.
fn compile<'env, 'source>(
    env: &'env Environment<'source>,
    source: &'source str,
) -> Result<Template<'env, 'source>, Error> {
    env.template_from_str(source)
}

fn has_jinja_tags(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

/// Jinja2's lexer turns `\r\n` and `\r` into `\n` and, with `keep_trailing_newline=False`,
/// drops one final newline; both apply even to text without tags.
fn prepare_source(template: &str) -> Cow<'_, str> {
    let mut source = if template.contains('\r') {
        Cow::Owned(template.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(template)
    };
    if source.ends_with('\n') {
        match &mut source {
            Cow::Borrowed(s) => *s = &s[..s.len() - 1],
            Cow::Owned(s) => {
                s.pop();
            }
        }
    }
    source
}

// ---------------------------------------------------------------------------------------------
// Helper functions (`agg_sum` & co.)
// ---------------------------------------------------------------------------------------------

/// Upstream: `partial(lambda select_expr, definition: definition.format(select_expr=...))`.
fn call_helper(function: &str, definition: &str, args: &[Value]) -> Result<String, Error> {
    let (positional, kwargs): (&[Value], Kwargs) = from_args(args)?;
    let argument = helper_argument(function, positional, &kwargs)?;
    let select_expr = python_str(&argument)?;
    python_format(definition, &[("select_expr", &select_expr)]).map_err(|err| {
        helper_error(
            function,
            format!("has an invalid definition ({err} of the definition)"),
        )
    })
}

fn helper_argument(function: &str, positional: &[Value], kwargs: &Kwargs) -> Result<Value, Error> {
    let keyword: Option<Value> = kwargs.get("select_expr")?;
    if let Some(unknown) = kwargs.args().find(|name| *name != "select_expr") {
        return Err(helper_error(
            function,
            format!("got an unexpected keyword argument `{unknown}`"),
        ));
    }
    match (positional, keyword) {
        ([value], None) => Ok(value.clone()),
        ([], Some(value)) => Ok(value),
        ([], None) => Err(helper_error(
            function,
            "takes one argument, none given".into(),
        )),
        (_, Some(_)) => Err(helper_error(
            function,
            "got `select_expr` both by position and by keyword".into(),
        )),
        (values, None) => Err(helper_error(
            function,
            format!("takes one argument, {} given", values.len()),
        )),
    }
}

fn helper_error(function: &str, detail: String) -> Error {
    let failure = FunctionFailure {
        function: function.to_owned(),
        detail,
    };
    Error::new(ErrorKind::InvalidOperation, failure.to_string()).with_source(failure)
}

// ---------------------------------------------------------------------------------------------
// Python-style values
// ---------------------------------------------------------------------------------------------

/// Prints like Python's `str()`. Only silent undefined values (an inline `if` without
/// `else`) get here: strict mode rejects the others before calling the formatter.
fn python_formatter(out: &mut Output, _state: &State, value: &Value) -> Result<(), Error> {
    if value.is_undefined() {
        return Ok(());
    }
    if let Some(s) = value.as_str() {
        return out.write_str(s).map_err(Error::from);
    }
    let mut text = String::new();
    write_python(&mut text, value, false)?;
    out.write_str(&text).map_err(Error::from)
}

/// Python's `str(value)`, as used by `str.format`; undefined is an error (StrictUndefined).
fn python_str(value: &Value) -> Result<String, Error> {
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    if let Some(s) = value.as_str() {
        return Ok(s.to_owned());
    }
    let mut text = String::new();
    write_python(&mut text, value, false)?;
    Ok(text)
}

/// Writes Python's `str()` (or `repr()` when `repr`) of a value.
fn write_python(out: &mut String, value: &Value, repr: bool) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Undefined => out.push_str(if repr { "Undefined" } else { "" }),
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => write_python_number(out, value),
        ValueKind::String if repr => write_python_string_repr(out, value.as_str().unwrap_or("")),
        ValueKind::String => out.push_str(value.as_str().unwrap_or("")),
        ValueKind::Seq | ValueKind::Iterable => write_python_list(out, value)?,
        ValueKind::Map => write_python_dict(out, value)?,
        _ => {
            let _ = write!(out, "{value}");
        }
    }
    Ok(())
}

fn write_python_list(out: &mut String, value: &Value) -> Result<(), Error> {
    out.push('[');
    for (index, item) in value.try_iter()?.enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        write_python(out, &item, true)?;
    }
    out.push(']');
    Ok(())
}

fn write_python_dict(out: &mut String, value: &Value) -> Result<(), Error> {
    out.push('{');
    for (index, key) in value.try_iter()?.enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        write_python(out, &key, true)?;
        out.push_str(": ");
        write_python(out, &value.get_item(&key)?, true)?;
    }
    out.push('}');
    Ok(())
}

fn write_python_number(out: &mut String, value: &Value) {
    match f64::try_from(value.clone()) {
        Ok(float) if !value.is_integer() => out.push_str(&python_float_repr(float)),
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

/// Python's `repr(float)`: shortest round-trip digits, scientific outside 1e-4..1e16.
fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value < 0.0 { "-inf" } else { "inf" }.into();
    }
    let sci = format!("{value:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent + 1; // digits before the decimal point
    let body = if !(-3..=16).contains(&point) {
        scientific(&digits, exponent)
    } else {
        positional(&digits, point)
    };
    format!("{sign}{body}")
}

fn scientific(digits: &str, exponent: i32) -> String {
    let (first, rest) = digits.split_at(1.min(digits.len()));
    let fraction = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    format!(
        "{first}{fraction}e{exponent_sign}{:02}",
        exponent.unsigned_abs()
    )
}

fn positional(digits: &str, point: i32) -> String {
    let len = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= len {
        format!("{digits}{}.0", "0".repeat((point - len) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    }
}

/// Python's `repr(str)`: single quotes unless only double quotes avoid escaping.
fn write_python_string_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// The Python `str` and `dict` methods Jinja2 templates can call but MiniJinja lacks.
fn python_method(
    state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        return python_str_method(s, method, args);
    }
    if value.kind() == ValueKind::Map {
        return python_dict_method(state, value, method, args);
    }
    Err(Error::from(ErrorKind::UnknownMethod))
}

fn python_str_method(s: &str, method: &str, args: &[Value]) -> Result<Value, Error> {
    let text = match method {
        "upper" | "lower" => {
            let () = from_args(args)?;
            if method == "upper" {
                s.to_uppercase()
            } else {
                s.to_lowercase()
            }
        }
        "strip" | "lstrip" | "rstrip" => {
            let (chars,): (Option<&str>,) = from_args(args)?;
            python_strip(s, method, chars).to_owned()
        }
        "replace" => {
            let (old, new, count): (&str, &str, Option<i64>) = from_args(args)?;
            match count {
                Some(n) if n >= 0 => s.replacen(old, new, usize::try_from(n).unwrap_or(usize::MAX)),
                _ => s.replace(old, new),
            }
        }
        "startswith" | "endswith" => {
            let (affix,): (&str,) = from_args(args)?;
            let found = if method == "startswith" {
                s.starts_with(affix)
            } else {
                s.ends_with(affix)
            };
            return Ok(Value::from(found));
        }
        "split" => return python_split(s, args),
        _ => return Err(Error::from(ErrorKind::UnknownMethod)),
    };
    Ok(Value::from(text))
}

/// `str.split([sep[, maxsplit]])`; whitespace splitting takes no `maxsplit` here.
fn python_split(s: &str, args: &[Value]) -> Result<Value, Error> {
    let (sep, maxsplit): (Option<&str>, Option<i64>) = from_args(args)?;
    let limit = maxsplit.and_then(|n| usize::try_from(n).ok());
    let parts: Vec<&str> = match (sep, limit) {
        (Some(""), _) => {
            return Err(Error::new(ErrorKind::InvalidOperation, "empty separator"));
        }
        (Some(sep), Some(n)) => s.splitn(n.saturating_add(1), sep).collect(),
        (Some(sep), None) => s.split(sep).collect(),
        (None, None) => s.split_whitespace().collect(),
        (None, Some(_)) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "split on whitespace with maxsplit is not supported",
            ));
        }
    };
    Ok(Value::from_iter(parts.into_iter().map(Value::from)))
}

fn python_strip<'a>(s: &'a str, method: &str, chars: Option<&str>) -> &'a str {
    let strip = |c: char| chars.map_or(c.is_whitespace(), |set| set.contains(c));
    match method {
        "lstrip" => s.trim_start_matches(strip),
        "rstrip" => s.trim_end_matches(strip),
        _ => s.trim_matches(strip),
    }
}

fn python_dict_method(
    state: &State,
    map: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    match method {
        "items" => {
            let () = from_args(args)?;
            state.apply_filter("items", std::slice::from_ref(map))
        }
        "keys" | "values" => {
            let () = from_args(args)?;
            let keys = map.try_iter()?;
            let items: Result<Vec<Value>, Error> = if method == "keys" {
                Ok(keys.collect())
            } else {
                keys.map(|key| map.get_item(&key)).collect()
            };
            Ok(Value::from(items?))
        }
        "get" => {
            let (key, default): (Value, Option<Value>) = from_args(args)?;
            let found = map.get_item(&key)?;
            Ok(if found.is_undefined() {
                default.unwrap_or_else(|| Value::from(()))
            } else {
                found
            })
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

// ---------------------------------------------------------------------------------------------
// Error conversion
// ---------------------------------------------------------------------------------------------

fn convert_error(
    err: &Error,
    source: &str,
    env: &Environment<'_>,
    context: &Value,
) -> TemplateError {
    let line = err.line();
    if let Some(UnavailableAttribute(message)) = find_source(err) {
        return TemplateError::Unavailable {
            message: message.clone(),
            line,
        };
    }
    if let Some(failure) = find_source::<FunctionFailure>(err) {
        return TemplateError::Function {
            function: failure.function.clone(),
            detail: failure.detail.clone(),
            line,
        };
    }
    match err.kind() {
        ErrorKind::SyntaxError | ErrorKind::BadEscape => TemplateError::Syntax {
            detail: err
                .detail()
                .map_or_else(|| err.kind().to_string(), str::to_owned),
            line,
        },
        ErrorKind::UndefinedError => match culprit(err, source, env, context) {
            Some(name) => TemplateError::UndefinedVariable { name, line },
            None => TemplateError::UndefinedValue {
                expression: failing_snippet(err, source).map(str::to_owned),
                line,
            },
        },
        ErrorKind::UnknownFunction => match culprit(err, source, env, context) {
            Some(name) => TemplateError::UnknownFunction { name, line },
            None => render_error(err),
        },
        _ => render_error(err),
    }
}

fn render_error(err: &Error) -> TemplateError {
    let detail = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    TemplateError::Render {
        detail,
        line: err.line(),
    }
}

fn find_source<T: std::error::Error + 'static>(err: &Error) -> Option<&T> {
    let mut current = std::error::Error::source(err);
    while let Some(cause) = current {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        current = cause.source();
    }
    None
}

fn failing_snippet<'a>(err: &Error, source: &'a str) -> Option<&'a str> {
    err.range()
        .and_then(|range| source.get(range))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Names the undefined variable behind an error: among the template's free variables
/// (with attribute paths) that do not resolve, the one in the failing expression, else
/// one on the failing line, else the first.
fn culprit(err: &Error, source: &str, env: &Environment<'_>, context: &Value) -> Option<String> {
    let compiled = compile(env, source).ok()?;
    let mut unresolved: Vec<String> = compiled
        .undeclared_variables(true)
        .iter()
        .filter_map(|path| unresolved_prefix(env, path, context))
        .collect();
    unresolved.sort();
    unresolved.dedup();
    let snippet = failing_snippet(err, source);
    let line_text = err
        .line()
        .and_then(|line| source.lines().nth(line.saturating_sub(1)));
    snippet
        .and_then(|s| earliest_in(&unresolved, s))
        .or_else(|| line_text.and_then(|s| earliest_in(&unresolved, s)))
        .or_else(|| unresolved.first().cloned())
}

/// The shortest prefix of `path` (`name.attr.attr`) that is undefined, as Jinja2 reports
/// it (`x` for `x.y` when `x` is missing, `parameters.id` when only `id` is).
fn unresolved_prefix(env: &Environment<'_>, path: &str, context: &Value) -> Option<String> {
    let mut end = 0;
    for part in path.split('.') {
        end += if end == 0 { part.len() } else { part.len() + 1 };
        let prefix = path.get(..end)?;
        if !resolves(env, prefix, context) {
            return Some(prefix.to_owned());
        }
    }
    None
}

/// Whether `path` (`name` or `name.attr...`) evaluates to a defined value.
fn resolves(env: &Environment<'_>, path: &str, context: &Value) -> bool {
    let Ok(expression) = env.compile_expression(path) else {
        return false;
    };
    match expression.eval(context) {
        Ok(value) => !value.is_undefined(),
        Err(err) => err.kind() != ErrorKind::UndefinedError,
    }
}

/// The candidate mentioned earliest in `text`, by full path or else by its root name.
fn earliest_in(candidates: &[String], text: &str) -> Option<String> {
    let position = |candidate: &String| {
        let root = candidate.split('.').next().unwrap_or(candidate);
        find_identifier(text, candidate)
            .map(|at| (0, at))
            .or_else(|| find_identifier(text, root).map(|at| (1, at)))
    };
    candidates
        .iter()
        .filter_map(|candidate| position(candidate).map(|rank| (rank, candidate)))
        .min()
        .map(|(_, candidate)| candidate.clone())
}

/// Byte offset of `name` in `text` as a whole identifier (not part of a longer one or an
/// attribute of something else).
fn find_identifier(text: &str, name: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(|c| is_ident(c) || c == '.') && !after.is_some_and(is_ident)
    })
}

/// The first line (1-based) that mentions `name` as an identifier.
fn line_mentioning(source: &str, name: &str) -> Option<usize> {
    source
        .lines()
        .position(|line| find_identifier(line, name).is_some())
        .map(|index| index + 1)
}

// ---------------------------------------------------------------------------------------------
// Python str.format
// ---------------------------------------------------------------------------------------------

/// One step of a format string, left to right.
enum Piece<'a> {
    Text(&'a str),
    Field { name: &'a str, line: usize },
}

/// Python `template.format(**args)` restricted to named placeholders: `{{`/`}}` are literal
/// braces, `{name}` is replaced; anything else is an error. With no `args`, any
/// placeholder fails (upstream's test for "templated on `{dataset}`").
pub fn python_format(template: &str, args: &[(&str, &str)]) -> Result<String, FormatError> {
    let mut out = String::with_capacity(template.len());
    scan_format(template, |piece| {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Field { name, line } => {
                let (_, value) = args.iter().find(|(key, _)| *key == name).ok_or_else(|| {
                    FormatError::UnknownName {
                        name: name.to_owned(),
                        line,
                    }
                })?;
                out.push_str(value);
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// The distinct placeholder names of a Python format string, in order of appearance.
pub fn format_placeholders(template: &str) -> Result<Vec<String>, FormatError> {
    let mut names: Vec<String> = Vec::new();
    scan_format(template, |piece| {
        if let Piece::Field { name, .. } = piece {
            if !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
            }
        }
        Ok(())
    })?;
    Ok(names)
}

/// Walks a format string like CPython's `MarkupIterator`, stopping at the first error.
fn scan_format<'a>(
    template: &'a str,
    mut emit: impl FnMut(Piece<'a>) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let bytes = template.as_bytes();
    let (mut index, mut text_start) = (0, 0);
    while let Some(&byte) = bytes.get(index) {
        let doubled = bytes.get(index + 1) == Some(&byte);
        match byte {
            b'{' | b'}' if doubled => {
                emit(Piece::Text(&template[text_start..=index]))?;
                index += 2;
                text_start = index;
            }
            b'}' => {
                return Err(FormatError::LoneClosingBrace {
                    line: line_at(template, index),
                })
            }
            b'{' => {
                emit(Piece::Text(&template[text_start..index]))?;
                let end = field_end(bytes, index).ok_or_else(|| FormatError::UnclosedBrace {
                    line: line_at(template, index),
                })?;
                let line = line_at(template, index);
                let name = field_name(&template[index + 1..end], line)?;
                emit(Piece::Field { name, line })?;
                index = end + 1;
                text_start = index;
            }
            _ => index += 1,
        }
    }
    emit(Piece::Text(&template[text_start..]))
}

/// Index of the `}` closing the field opened at `open`, counting nested braces.
fn field_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (index, &byte) in bytes.iter().enumerate().skip(open) {
        match byte {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
    }
    None
}

/// Accepts only a plain keyword name; rejects the other forms Python allows.
fn field_name(field: &str, line: usize) -> Result<&str, FormatError> {
    let unsupported = |reason| FormatError::Unsupported {
        field: field.to_owned(),
        reason,
        line,
    };
    if field.contains('{') {
        return Err(unsupported("nested placeholders are not supported"));
    }
    match field.find(['!', ':']).and_then(|at| field.get(at..)) {
        Some(rest) if rest.starts_with('!') => {
            return Err(unsupported("conversions such as `!r` are not supported"))
        }
        Some(_) => return Err(unsupported("format specifications are not supported")),
        None => {}
    }
    if field.contains(['.', '[']) {
        return Err(unsupported("attribute and index access are not supported"));
    }
    if field.is_empty() || field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unsupported("positional placeholders are not supported"));
    }
    Ok(field)
}

fn line_at(text: &str, offset: usize) -> usize {
    let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates::new([
            (
                "agg_sum".to_owned(),
                "COALESCE(SUM({select_expr}), 0)".to_owned(),
            ),
            (
                "agg_any".to_owned(),
                "COALESCE(LOGICAL_OR({select_expr}), FALSE)".to_owned(),
            ),
            (
                "agg_histogram_mean".to_owned(),
                "\n    SAFE_DIVIDE(\n        SUM(CAST(JSON_EXTRACT_SCALAR({select_expr}, \"$.sum\") AS int64)),\n        SUM({select_expr})\n    )\n".to_owned(),
            ),
            ("agg_broken".to_owned(), "SUM({other})".to_owned()),
        ])
    }

    fn select(template: &str) -> Result<String, TemplateError> {
        templates().render_select_expression(template, None)
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn experiment() -> ExperimentVars {
        let branch = |slug: &str, ratio: i64| {
            ExperimentValue::Map(BTreeMap::from([
                ("slug".to_owned(), ExperimentValue::from(slug)),
                ("ratio".to_owned(), ExperimentValue::from(ratio)),
            ]))
        };
        let mut vars = ExperimentVars::new()
            .with("slug", "my-exp")
            .with("normandy_slug", "my-exp")
            .with("start_date_str", "2024-01-02")
            .with("last_enrollment_date_str", "2024-01-09")
            .with("enrollment_period", 7)
            .with("reference_branch", Some("control"))
            .with("app_id", None::<String>)
            .with("is_rollout", false)
            .with(
                "branches",
                ExperimentValue::List(vec![branch("control", 1), branch("treatment", 1)]),
            );
        vars.set_unavailable("end_date_str", "experiment has no end date");
        vars
    }

    #[test]
    fn helpers_expand_their_definition() {
        assert_eq!(select("{{agg_sum(\"x\")}}").unwrap(), "COALESCE(SUM(x), 0)");
        assert_eq!(
            select("{{ agg_any(\"payload.processes.scalars.some_boolean_thing\") }}").unwrap(),
            "COALESCE(LOGICAL_OR(payload.processes.scalars.some_boolean_thing), FALSE)"
        );
        assert_eq!(
            select("{{agg_sum(select_expr='y')}} / 2").unwrap(),
            "COALESCE(SUM(y), 0) / 2"
        );
    }

    #[test]
    fn helper_arguments_keep_nested_quotes() {
        assert_eq!(
            select(r#"{{agg_any("event_category = 'x' AND name = \"y\"")}}"#).unwrap(),
            r#"COALESCE(LOGICAL_OR(event_category = 'x' AND name = "y"), FALSE)"#
        );
        assert_eq!(
            select(r#"{{ agg_sum('IF(a = "b", 1, 0)') }}"#).unwrap(),
            r#"COALESCE(SUM(IF(a = "b", 1, 0)), 0)"#
        );
    }

    #[test]
    fn helper_with_multi_line_argument_and_definition() {
        let template =
            "{{agg_histogram_mean(\n  'payload.histograms.x'\n)}}\n  + {{ agg_sum(\"CASE\n  WHEN a THEN 1\n  ELSE 0 END\") }}\n";
        assert_eq!(
            select(template).unwrap(),
            "\n    SAFE_DIVIDE(\n        SUM(CAST(JSON_EXTRACT_SCALAR(payload.histograms.x, \"$.sum\") AS int64)),\n        SUM(payload.histograms.x)\n    )\n\n  + COALESCE(SUM(CASE\n  WHEN a THEN 1\n  ELSE 0 END), 0)"
        );
    }

    #[test]
    fn helper_arguments_are_printed_like_python() {
        assert_eq!(select("{{agg_sum(1)}}").unwrap(), "COALESCE(SUM(1), 0)");
        assert_eq!(
            select("{{agg_any(true)}}").unwrap(),
            "COALESCE(LOGICAL_OR(True), FALSE)"
        );
    }

    #[test]
    fn helper_called_wrongly_is_an_error() {
        let err = select("SELECT\n  {{ agg_sum() }}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`agg_sum` takes one argument, none given at line 2"
        );
        assert!(
            matches!(err, TemplateError::Function { ref function, .. } if function == "agg_sum")
        );
        let err = select("{{ agg_sum('a', 'b') }}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`agg_sum` takes one argument, 2 given at line 1"
        );
        let err = select("{{ agg_sum(expr='a') }}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`agg_sum` got an unexpected keyword argument `expr` at line 1"
        );
        let err = select("\n{{ agg_broken('a') }}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`agg_broken` has an invalid definition \
             (unknown placeholder `{other}` at line 1 of the definition) at line 2"
        );
    }

    #[test]
    fn unknown_helper_is_named() {
        let err = select("{{agg_histogram_mean_glean('metrics.x')}}").unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownFunction {
                name: "agg_histogram_mean_glean".into(),
                line: Some(1)
            }
        );
    }

    #[test]
    fn parameters_are_rendered() {
        let p = params(&[("message_id", "SPOTLIGHT_1")]);
        let rendered = templates()
            .render_select_expression(
                "COUNTIF(event = 'CLICK' AND message_id = '{{ parameters.message_id }}')",
                Some(&p),
            )
            .unwrap();
        assert_eq!(
            rendered,
            "COUNTIF(event = 'CLICK' AND message_id = 'SPOTLIGHT_1')"
        );
    }

    #[test]
    fn undefined_parameter_is_named_with_its_line() {
        let p = params(&[("other", "1")]);
        let err = templates()
            .render_select_expression(
                "COUNTIF(\n  event = 'CLICK'\n  AND message_id = '{{ parameters.message_id }}')",
                Some(&p),
            )
            .unwrap_err();
        assert_eq!(
            err,
            TemplateError::UndefinedVariable {
                name: "parameters.message_id".into(),
                line: Some(3)
            }
        );
        assert_eq!(
            err.to_string(),
            "undefined variable `parameters.message_id` at line 3"
        );
        // Without any parameters at all, the missing piece is `parameters` itself.
        let err = select("x = {{ parameters.message_id }}").unwrap_err();
        assert_eq!(err.to_string(), "undefined variable `parameters` at line 1");
    }

    #[test]
    fn undefined_variables_are_named() {
        let err = select("{{ agg_sum(foo) }}").unwrap_err();
        assert_eq!(err.to_string(), "undefined variable `foo` at line 1");
        let err = select("a\nb {% if x.y.z %}1{% endif %}").unwrap_err();
        assert_eq!(err.to_string(), "undefined variable `x` at line 2");
        let err = select("{{ 'a' }}\n{{ experiment.slug.replace('-', '_') }}").unwrap_err();
        assert_eq!(err.to_string(), "undefined variable `experiment` at line 2");
        let err = select("{{ x | upper }}").unwrap_err();
        assert_eq!(err.to_string(), "undefined variable `x` at line 1");
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let err = select("SUM(x)\n{% if true %}").unwrap_err();
        assert!(
            matches!(err, TemplateError::Syntax { line: Some(2), .. }),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .starts_with("syntax error: unexpected end of input"));
        let err = select("{{ 1 }").unwrap_err();
        assert_eq!(
            err.to_string(),
            "syntax error: unexpected `}`, expected end of variable block at line 1"
        );
    }

    #[test]
    fn single_braces_pass_through_jinja() {
        assert_eq!(
            select("mozfun.map.get_key(environment.experiments, '{experiment_slug}')").unwrap(),
            "mozfun.map.get_key(environment.experiments, '{experiment_slug}')"
        );
        assert_eq!(
            select("{{agg_any(\"e = '{experiment_slug}'\")}}").unwrap(),
            "COALESCE(LOGICAL_OR(e = '{experiment_slug}'), FALSE)"
        );
    }

    #[test]
    fn trailing_newline_is_dropped_once_like_jinja2() {
        assert_eq!(select("SUM(x)\n").unwrap(), "SUM(x)");
        assert_eq!(select("SUM(x)\n\n").unwrap(), "SUM(x)\n");
        assert_eq!(
            select("{{ agg_sum('x') }}\n").unwrap(),
            "COALESCE(SUM(x), 0)"
        );
        assert_eq!(select("\n").unwrap(), "");
        assert_eq!(select("").unwrap(), "");
        // Windows and old-Mac line endings become `\n`, as Jinja2's lexer does.
        assert_eq!(select("a\r\nb\rc\r\n").unwrap(), "a\nb\nc");
        assert_eq!(select("{{ 'x' }}\r\n").unwrap(), "x");
    }

    #[test]
    fn whitespace_is_otherwise_preserved() {
        let text = "  SELECT\n\t  a ,\n    b   \n\n  FROM t  ";
        assert_eq!(select(text).unwrap(), text);
        let tagged = "  {{ agg_sum('x') }}  \n\n\t{{ 'y' }}\t\n ";
        assert_eq!(
            select(tagged).unwrap(),
            "  COALESCE(SUM(x), 0)  \n\n\ty\t\n "
        );
        assert_eq!(
            select("a {%- if true %} b {% endif -%} c").unwrap(),
            "a b c"
        );
        assert_eq!(
            select("a\n{% if true %}\nb\n{% endif %}\nc").unwrap(),
            "a\n\nb\n\nc"
        );
        assert_eq!(select("a {# note #} b").unwrap(), "a  b");
    }

    #[test]
    fn values_print_like_python() {
        assert_eq!(
            select("{{ true }} {{ none }} {{ [1, 'a', none] }} {{ {'k': \"it's\"} }}").unwrap(),
            "True None [1, 'a', None] {'k': \"it's\"}"
        );
        assert_eq!(
            select("{{ 10 / 4 }} {{ 1.0 }} {{ 1e20 * 1.5 }} {{ 0.00001 }} {{ 0.1 + 0.2 }}")
                .unwrap(),
            "2.5 1.0 1.5e+20 1e-05 0.30000000000000004"
        );
        // Jinja2 prints an inline `if` without `else` as empty, even when strict.
        assert_eq!(select("[{{ 'a' if false }}]").unwrap(), "[]");
    }

    #[test]
    fn python_methods_used_in_templates_work() {
        let vars = experiment();
        let t = templates();
        assert_eq!(
            t.render_with_experiment("{{ experiment.slug.replace('-', '_').upper() }}", &vars)
                .unwrap(),
            "MY_EXP"
        );
        assert_eq!(
            t.render_with_experiment("{{ ' a '.strip() }}|{{ 'xx-a'.lstrip('x') }}", &vars)
                .unwrap(),
            "a|-a"
        );
        assert_eq!(
            t.render_with_experiment(
                "{{ {'a': 1}.get('b', 2) }} {{ {'a': 1}.keys() | list }}",
                &vars
            )
            .unwrap(),
            "2 ['a']"
        );
        assert_eq!(
            t.render_with_experiment("{{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }}", &vars)
                .unwrap(),
            "['a', 'b'] ['a', 'b,c']"
        );
    }

    #[test]
    fn from_expression_referencing_experiment_is_rendered() {
        let template =
            "(SELECT * FROM t WHERE DATE(submission_timestamp) >= '{{experiment.start_date_str}}')";
        assert_eq!(
            templates()
                .render_from_expression(template, Some(&experiment()))
                .unwrap(),
            "(SELECT * FROM t WHERE DATE(submission_timestamp) >= '2024-01-02')"
        );
    }

    #[test]
    fn from_expression_without_experiment_reference_is_untouched() {
        let t = templates();
        let guid = "SELECT * FROM t WHERE addon_id IN ('{{guid}}')\n";
        assert_eq!(
            t.render_from_expression(guid, Some(&experiment())).unwrap(),
            guid
        );
        assert_eq!(t.render_from_expression(guid, None).unwrap(), guid);
        let plain = "mozdata.{dataset}.events\n";
        assert_eq!(t.render_from_expression(plain, None).unwrap(), plain);
    }

    #[test]
    fn from_expression_that_does_not_parse_is_untouched() {
        let text = "WHERE addon_id IN (\n  '{{d10d0bf8-f5b5-c8b4-a8b2-2b9879e08c5d}}',  /* Adblock Plus */\n  '{{experiment.slug'\n)";
        assert_eq!(
            templates()
                .render_from_expression(text, Some(&experiment()))
                .unwrap(),
            text
        );
    }

    #[test]
    fn from_expression_needing_an_absent_experiment_fails() {
        let err = templates()
            .render_from_expression("SELECT 1\nWHERE s = '{{ experiment.slug }}'", None)
            .unwrap_err();
        assert_eq!(err, TemplateError::NoExperiment { line: Some(2) });
        assert_eq!(
            err.to_string(),
            "references `experiment`, but no experiment is available in this context at line 2"
        );
    }

    #[test]
    fn enrollment_query_cannot_reference_itself() {
        let mut vars = experiment();
        vars.set_unavailable("enrollment_query", "Not a valid enrollment_query");
        let query = "SELECT client_id\nFROM t\nWHERE x = '{{ experiment.enrollment_query }}'";
        let err = templates()
            .render_with_experiment(query, &vars)
            .unwrap_err();
        assert_eq!(
            err,
            TemplateError::Unavailable {
                message: "Not a valid enrollment_query".into(),
                line: Some(3)
            }
        );
        // Even `is defined` touches the attribute, as in Python.
        let err = templates()
            .render_with_experiment(
                "{% if experiment.enrollment_query is defined %}{% endif %}",
                &vars,
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "Not a valid enrollment_query at line 1");
    }

    #[test]
    fn missing_end_date_is_a_clear_error() {
        let err = templates()
            .render_with_experiment("DATE('{{ experiment.end_date_str }}')", &experiment())
            .unwrap_err();
        assert_eq!(err.to_string(), "experiment has no end date at line 1");
    }

    #[test]
    fn enrollment_query_renders_experiment_attributes() {
        let query = "SELECT client_id, branch\nFROM t\nWHERE DATE(submission_timestamp) BETWEEN \"{{experiment.start_date_str}}\" AND \"{{experiment.last_enrollment_date_str}}\"\n  AND slug = \"{{ experiment.normandy_slug }}\"\n  AND n = {{ experiment.enrollment_period }}\n  AND branch IN ({% for b in experiment.branches %}'{{ b.slug }}'{% if not loop.last %}, {% endif %}{% endfor %})\n  -- {{ experiment.is_rollout }} {{ experiment.app_id }} {{ experiment.reference_branch }}\n";
        assert_eq!(
            templates().render_with_experiment(query, &experiment()).unwrap(),
            "SELECT client_id, branch\nFROM t\nWHERE DATE(submission_timestamp) BETWEEN \"2024-01-02\" AND \"2024-01-09\"\n  AND slug = \"my-exp\"\n  AND n = 7\n  AND branch IN ('control', 'treatment')\n  -- False None control"
        );
        let err = templates()
            .render_with_experiment("{{ experiment.no_such_thing }}", &experiment())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "undefined variable `experiment.no_such_thing` at line 1"
        );
    }

    #[test]
    fn segment_from_expression_is_always_rendered() {
        // Unlike a data source's, a segment data source's `{{` is always Jinja.
        let err = templates()
            .render_with_experiment("SELECT '{{guid}}'", &experiment())
            .unwrap_err();
        assert_eq!(err.to_string(), "undefined variable `guid` at line 1");
        assert_eq!(
            templates()
                .render_with_experiment("clients_daily\n", &experiment())
                .unwrap(),
            "clients_daily"
        );
    }

    #[test]
    fn python_format_substitutes_and_unescapes() {
        assert_eq!(
            python_format(
                "SELECT '{{x}}' FROM {dataset}.events_{dataset}",
                &[("dataset", "ds")]
            )
            .unwrap(),
            "SELECT '{x}' FROM ds.events_ds"
        );
        assert_eq!(python_format("{{}} }}{{", &[]).unwrap(), "{} }{");
        assert_eq!(
            python_format("plain\n  text ", &[]).unwrap(),
            "plain\n  text "
        );
        assert_eq!(
            python_format("{a-b} {é}", &[("a-b", "1"), ("é", "2")]).unwrap(),
            "1 2"
        );
    }

    #[test]
    fn python_format_errors() {
        assert_eq!(
            python_format("FROM {dataset}", &[]),
            Err(FormatError::UnknownName {
                name: "dataset".into(),
                line: 1
            })
        );
        assert_eq!(
            python_format("a\nFROM {datset}", &[("dataset", "x")])
                .unwrap_err()
                .to_string(),
            "unknown placeholder `{datset}` at line 2"
        );
        assert_eq!(
            python_format("a }", &[]),
            Err(FormatError::LoneClosingBrace { line: 1 })
        );
        assert_eq!(
            python_format("a\n{dataset", &[("dataset", "x")]),
            Err(FormatError::UnclosedBrace { line: 2 })
        );
        assert_eq!(
            python_format("a {", &[]),
            Err(FormatError::UnclosedBrace { line: 1 })
        );
        for (template, reason) in [
            ("{}", "positional"),
            ("{0}", "positional"),
            ("{x:>3}", "format specifications"),
            ("{x!r}", "conversions"),
            ("{x.y}", "attribute and index"),
            ("{x[0]}", "attribute and index"),
            ("{x{y}}", "nested"),
        ] {
            let err = python_format(template, &[("x", "1")]).unwrap_err();
            assert!(
                matches!(&err, FormatError::Unsupported { reason: r, .. } if r.starts_with(reason)),
                "{template}: {err}"
            );
        }
    }

    #[test]
    fn python_format_fails_at_the_first_problem_like_python() {
        // Python raises KeyError for `{a}` before it reaches the lone brace.
        assert!(matches!(
            python_format("{a} }", &[]),
            Err(FormatError::UnknownName { .. })
        ));
        assert!(matches!(
            python_format("} {a}", &[]),
            Err(FormatError::LoneClosingBrace { .. })
        ));
    }

    #[test]
    fn placeholders_are_listed() {
        assert_eq!(
            format_placeholders("{dataset}.t {{x}} {other} {dataset}").unwrap(),
            vec!["dataset".to_owned(), "other".to_owned()]
        );
        assert!(format_placeholders("no placeholders {{here}}")
            .unwrap()
            .is_empty());
        assert!(format_placeholders("{0}").is_err());
    }

    #[test]
    fn python_float_repr_matches_python() {
        for (value, expected) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (123.456, "123.456"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (-2.5e300, "-2.5e+300"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(python_float_repr(value), expected);
        }
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let t = templates();
        for template in [
            "{{",
            "{%",
            "{#",
            "}}",
            "{{ ( }}",
            "{{ '\\u12 }}",
            "{{ 'é' ~ }}",
            "{% for %}",
            "{{ [1,2][5] }}",
            "{{ 1 / 0 }}",
            "{{ range(10000000) | list | length }}",
            "{{ 'x' * -1 }}",
            "\u{0}{{ '\u{1F600}' }}\r",
            "{{ agg_sum(agg_sum) }}",
            "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        ] {
            let _ = t.render_select_expression(template, None);
            let _ = t.render_with_experiment(template, &experiment());
            let _ = t.render_from_expression(template, None);
            let _ = python_format(template, &[("x", "1")]);
            let _ = format_placeholders(template);
        }
    }

    #[test]
    fn templates_are_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Templates>();
        assert_send_sync::<ExperimentVars>();
    }
}
