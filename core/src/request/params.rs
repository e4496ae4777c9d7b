//! Parameter values, encoded when the request is made so that a request owns everything it
//! sends: SQL text gets each value as its Rust type declares it (the Parse declares the same
//! types; strings and NULLs go as text of unknown type for the server to infer), a prepared
//! statement gets them encoded for the types it was described with.

use std::ops::Range;

use crate::error::{Error, UsageError};
use crate::types::{IsNull, ToSql};

/// Parameters of a query: values borrowed while the request is made.
pub type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

#[derive(Debug, Clone, Copy)]
struct Param {
    /// The parameter's type (0: unknown, sent as text).
    oid: u32,
    /// The type the value was encoded as: `oid`, or, for a parameter of a type the value does
    /// not take that is not built in (a domain, perhaps), the value's own type — checked at
    /// Bind against the domain's base type in the connection's type catalogue.
    wire: u32,
    format: i16,
    value: Option<(u32, u32)>,
}

/// Encoded parameter values, contiguous (a pipeline keeps all of its queries' values in one).
#[derive(Debug, Clone, Default)]
pub(crate) struct Encoded {
    data: Vec<u8>,
    params: Vec<Param>,
}

/// The largest parameter buffer a connection keeps for its next request.
const RECYCLED_CAPACITY: usize = 16 * 1024;

/// Names a parameter in a type error.
fn parameter_error(i: usize, e: Error) -> Error {
    match e {
        Error::Usage(UsageError::WrongType { rust, pg, .. }) => {
            UsageError::WrongType { column: format!("parameter ${}", i + 1), rust, pg }.into()
        }
        other => other,
    }
}

impl Encoded {
    /// Appends `params`, each encoded for `types[i]` (a statement's described types) or, with
    /// `types` `None`, for its natural type. Returns the range of parameters added.
    pub(crate) fn push(&mut self, params: Params<'_>, types: Option<&[u32]>) -> Result<Range<usize>, Error> {
        if let Some(types) = types {
            if types.len() != params.len() {
                return Err(UsageError::ParameterCount { expected: types.len(), given: params.len() }.into());
            }
        }
        let (data_mark, params_mark) = (self.data.len(), self.params.len());
        let r = (|| {
            for (i, p) in params.iter().enumerate() {
                let (oid, wire) = match types {
                    Some(t) => {
                        let oid = t[i];
                        let natural = p.natural_type();
                        let maybe_domain = oid != 0
                            && !p.accepts_type(oid)
                            && crate::types::catalogue::Type::builtin(oid).is_none()
                            && natural != 0;
                        (oid, if maybe_domain { natural } else { oid })
                    }
                    None => {
                        let oid = p.natural_type();
                        (oid, oid)
                    }
                };
                let binary = wire != 0 && p.binary(wire);
                let start = self.data.len();
                let null = p.encode(wire, &mut self.data).map_err(|e| parameter_error(i, e))?;
                let value = match null {
                    IsNull::Yes => {
                        self.data.truncate(start);
                        None
                    }
                    IsNull::No => {
                        let end = u32::try_from(self.data.len()).map_err(|_| UsageError::MessageTooLarge)?;
                        Some((start as u32, end))
                    }
                };
                self.params.push(Param { oid, wire, format: binary as i16, value });
            }
            Ok(())
        })();
        if let Err(e) = r {
            self.data.truncate(data_mark);
            self.params.truncate(params_mark);
            return Err(e);
        }
        Ok(params_mark..self.params.len())
    }

    /// Empties it for reuse, keeping its buffers if they are small (`false`: not worth
    /// keeping).
    pub(crate) fn recycle(&mut self) -> bool {
        self.data.clear();
        self.params.clear();
        self.data.capacity() <= RECYCLED_CAPACITY && self.params.capacity() <= RECYCLED_CAPACITY / 16
    }

    pub(crate) fn all(&self) -> Range<usize> {
        0..self.params.len()
    }

    /// The types the parameters in `range` were encoded for: the Parse declares them.
    pub(crate) fn types(&self, range: Range<usize>) -> Vec<u32> {
        self.params[range].iter().map(|p| p.oid).collect()
    }

    pub(crate) fn oid(&self, i: usize) -> u32 {
        self.params[i].oid
    }

    /// The types of the parameters whose values were encoded as another type (a domain's
    /// base type, if the type catalogue confirms it); `None` when there are none.
    pub(crate) fn retyped(&self) -> Option<Vec<u32>> {
        self.params
            .iter()
            .any(|p| p.wire != p.oid)
            .then(|| self.params.iter().filter(|p| p.wire != p.oid).map(|p| p.oid).collect())
    }

    /// The type the value was encoded as (see `Param::wire`).
    pub(crate) fn wire(&self, i: usize) -> u32 {
        self.params[i].wire
    }

    pub(crate) fn format(&self, i: usize) -> i16 {
        self.params[i].format
    }

    pub(crate) fn value(&self, i: usize) -> Option<&[u8]> {
        self.params[i].value.map(|(s, e)| &self.data[s as usize..e as usize])
    }
}
