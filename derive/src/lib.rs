//! Derives for pgsans. Use them through `pgsans` with its `derive` feature:
//! `#[derive(pgsans::FromRow)]`, `#[derive(pgsans::ToSql, pgsans::FromSql)]`.
//!
//! The generated code names the engine crate `::pgsans`; `#[pgsans(crate = "path")]` changes
//! it (e.g. `"pgsans_tokio::pgsans"` when only a transport crate is a dependency).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Fields, GenericParam, Lifetime, LifetimeParam, LitStr};

mod case;
mod sql;

/// `#[derive(FromRow)]`: see `pgsans::FromRow`.
#[proc_macro_derive(FromRow, attributes(pgsans))]
pub fn derive_from_row(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    from_row(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// `#[derive(ToSql)]` for enums (PostgreSQL enum labels), tuple newtypes (a domain over the
/// inner type) and structs with named fields (composite types): see `pgsans::ToSql`. The type
/// must also be `Debug`, as every `ToSql` is.
#[proc_macro_derive(ToSql, attributes(pgsans))]
pub fn derive_to_sql(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    sql::to_sql(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// `#[derive(FromSql)]` for enums (PostgreSQL enum labels), tuple newtypes (a domain over the
/// inner type) and structs with named fields (composite types): see `pgsans::FromSql`.
#[proc_macro_derive(FromSql, attributes(pgsans))]
pub fn derive_from_sql(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    sql::from_sql(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// What `#[pgsans(...)]` on the type says.
#[derive(Default)]
pub(crate) struct TypeAttrs {
    pub(crate) krate: Option<syn::Path>,
    pub(crate) rename_all: Option<case::Case>,
    /// A struct of one named field read and written as that field (a domain), not as a
    /// composite of one field.
    pub(crate) transparent: bool,
}

impl TypeAttrs {
    pub(crate) fn parse(attrs: &[syn::Attribute]) -> syn::Result<TypeAttrs> {
        let mut out = TypeAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("pgsans")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    let s: LitStr = meta.value()?.parse()?;
                    out.krate = Some(s.parse()?);
                } else if meta.path.is_ident("rename_all") {
                    let s: LitStr = meta.value()?.parse()?;
                    out.rename_all =
                        Some(case::Case::parse(&s.value()).ok_or_else(|| meta.error(case::Case::EXPECTED))?);
                } else if meta.path.is_ident("transparent") {
                    out.transparent = true;
                } else {
                    return Err(meta.error("expected `crate`, `rename_all` or `transparent`"));
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    pub(crate) fn krate(&self) -> Tokens {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => quote!(::pgsans),
        }
    }
}

/// What `#[pgsans(...)]` on a field or variant says.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) rename: Option<String>,
    default: bool,
    skip: bool,
    flatten: bool,
    try_from: Option<syn::Type>,
}

impl FieldAttrs {
    pub(crate) fn parse(attrs: &[syn::Attribute]) -> syn::Result<FieldAttrs> {
        let mut out = FieldAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("pgsans")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let s: LitStr = meta.value()?.parse()?;
                    out.rename = Some(s.value());
                } else if meta.path.is_ident("default") {
                    out.default = true;
                } else if meta.path.is_ident("skip") {
                    out.skip = true;
                } else if meta.path.is_ident("flatten") {
                    out.flatten = true;
                } else if meta.path.is_ident("try_from") {
                    let s: LitStr = meta.value()?.parse()?;
                    out.try_from = Some(s.parse()?);
                } else {
                    return Err(meta.error("expected `rename`, `default`, `skip`, `flatten` or `try_from`"));
                }
                Ok(())
            })?;
        }
        Ok(out)
    }
}

fn from_row(input: &DeriveInput) -> syn::Result<Tokens> {
    let attrs = TypeAttrs::parse(&input.attrs)?;
    let krate = attrs.krate();
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(input.span(), "#[derive(FromRow)] is for structs"));
    };

    // The row's lifetime: the struct's own lifetime when it borrows, else a fresh one.
    let mut generics = input.generics.clone();
    let mut lifetimes = input.generics.lifetimes();
    let row_lifetime = match (lifetimes.next(), lifetimes.next()) {
        (Some(l), None) => l.lifetime.clone(),
        (Some(_), Some(l)) => {
            return Err(syn::Error::new(l.span(), "#[derive(FromRow)] takes at most one lifetime: the row's"));
        }
        (None, _) => {
            let l = Lifetime::new("'__row", Span::call_site());
            generics.params.insert(0, GenericParam::Lifetime(LifetimeParam::new(l.clone())));
            l
        }
    };

    let mut inits = Vec::new();
    for (i, field) in data.fields.iter().enumerate() {
        let f = FieldAttrs::parse(&field.attrs)?;
        let ty = &field.ty;
        let (column, column_text) = match &field.ident {
            Some(ident) => {
                let name = ident.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
                let name = f.rename.clone().unwrap_or_else(|| match attrs.rename_all {
                    Some(case) => case.apply(&name),
                    None => name,
                });
                (quote!(#name), quote!(#name))
            }
            None => {
                let text = i.to_string();
                let i = syn::Index::from(i);
                (quote!(#i as usize), quote!(#text))
            }
        };
        let value = if f.skip {
            quote!(::std::default::Default::default())
        } else if f.flatten {
            quote!(<#ty as #krate::FromRow<#row_lifetime>>::from_row(row)?)
        } else {
            let read = match &f.try_from {
                Some(from) => quote!({
                    let value: #from = row.get(#column)?;
                    <#ty as ::std::convert::TryFrom<#from>>::try_from(value)
                        .map_err(|e| #krate::types::from_row::try_from_failed(#column_text, e))?
                }),
                None => quote!(row.get::<#ty, _>(#column)?),
            };
            if f.default {
                quote!(match row.index_of(#column) {
                    ::std::option::Option::Some(_) => #read,
                    ::std::option::Option::None => ::std::default::Default::default(),
                })
            } else {
                read
            }
        };
        inits.push(match &field.ident {
            Some(ident) => quote!(#ident: #value),
            None => value,
        });
    }
    let body = match &data.fields {
        Fields::Named(_) => quote!(Self { #(#inits),* }),
        Fields::Unnamed(_) => quote!(Self ( #(#inits),* )),
        Fields::Unit => quote!(Self),
    };

    let (impl_generics, _, _) = generics.split_for_impl();
    let (_, ty_generics, where_clause) = input.generics.split_for_impl();
    let name = &input.ident;
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #krate::FromRow<#row_lifetime> for #name #ty_generics #where_clause {
            fn from_row(row: &#krate::Row<#row_lifetime>) -> ::std::result::Result<Self, #krate::Error> {
                ::std::result::Result::Ok(#body)
            }
        }
    })
}
