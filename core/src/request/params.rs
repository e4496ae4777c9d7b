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
    /// The type it was encoded for (0: unknown, sent as text).
    oid: u32,
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
                let oid = match types {
                    Some(t) => t[i],
                    None => p.natural_type(),
                };
                let binary = oid != 0 && p.binary(oid);
                let start = self.data.len();
                let null = p.encode(oid, &mut self.data).map_err(|e| parameter_error(i, e))?;
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
                self.params.push(Param { oid, format: binary as i16, value });
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

    pub(crate) fn format(&self, i: usize) -> i16 {
        self.params[i].format
    }

    pub(crate) fn value(&self, i: usize) -> Option<&[u8]> {
        self.params[i].value.map(|(s, e)| &self.data[s as usize..e as usize])
    }
}
