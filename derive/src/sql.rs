//! `#[derive(ToSql, FromSql)]`: enums as PostgreSQL enum labels, tuple structs of one field as
//! their inner type (a domain over it), structs with named fields as composite types.

use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

use crate::{FieldAttrs, TypeAttrs};

enum Shape {
    /// Unit variants and their labels.
    Enum(Vec<(syn::Ident, String)>),
    /// A tuple struct of one field (or `#[pgsans(transparent)]`): its type.
    Newtype(syn::Type),
    /// A struct with named fields: each field's name (the composite's attribute, renamed
    /// as asked) and type, in order.
    Composite(Vec<(syn::Ident, syn::Type)>),
}

fn shape(input: &DeriveInput, attrs: &TypeAttrs, derive: &str) -> syn::Result<Shape> {
    match &input.data {
        Data::Enum(data) => {
            let mut variants = Vec::new();
            for v in &data.variants {
                if !matches!(v.fields, Fields::Unit) {
                    return Err(syn::Error::new(
                        v.span(),
                        format!("#[derive({derive})] maps unit variants to PostgreSQL enum labels"),
                    ));
                }
                let f = FieldAttrs::parse(&v.attrs)?;
                let label = f.rename.unwrap_or_else(|| match attrs.rename_all {
                    Some(case) => case.apply(&v.ident.to_string()),
                    None => v.ident.to_string(),
                });
                variants.push((v.ident.clone(), label));
            }
            Ok(Shape::Enum(variants))
        }
        Data::Struct(data)
            if data.fields.len() == 1 && (attrs.transparent || matches!(data.fields, Fields::Unnamed(_))) =>
        {
            match data.fields.iter().next() {
                Some(field) => Ok(Shape::Newtype(field.ty.clone())),
                None => Err(syn::Error::new(input.span(), "a newtype has one field")),
            }
        }
        Data::Struct(data) if matches!(data.fields, Fields::Named(_)) => {
            Ok(Shape::Composite(data.fields.iter().filter_map(|f| Some((f.ident.clone()?, f.ty.clone()))).collect()))
        }
        _ => Err(syn::Error::new(
            input.span(),
            format!(
                "#[derive({derive})] is for enums (PostgreSQL enums), tuple structs of one field (domains) and \
                 structs with named fields (composite types)"
            ),
        )),
    }
}

/// How the generated code builds the value from its one field, and reads it back.
fn newtype_access(input: &DeriveInput) -> (Tokens, Tokens) {
    match &input.data {
        Data::Struct(data) => match data.fields.iter().next().and_then(|f| f.ident.clone()) {
            Some(ident) => (quote!(|v| Self { #ident: v }), quote!(self.#ident)),
            None => (quote!(Self), quote!(self.0)),
        },
        _ => unreachable!("checked by shape()"),
    }
}

pub(crate) fn to_sql(input: &DeriveInput) -> syn::Result<Tokens> {
    let attrs = TypeAttrs::parse(&input.attrs)?;
    let krate = attrs.krate();
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let body = match shape(input, &attrs, "ToSql")? {
        Shape::Enum(variants) => {
            let arms = variants.iter().map(|(v, label)| quote!(Self::#v => #label));
            quote! {
                fn accepts(oid: u32) -> bool {
                    #krate::types::derive_support::enum_accepts(oid)
                }
                fn to_sql(&self, _: u32, out: &mut ::std::vec::Vec<u8>) -> ::std::result::Result<#krate::types::IsNull, #krate::Error> {
                    let label: &str = match self { #(#arms),* };
                    out.extend_from_slice(label.as_bytes());
                    ::std::result::Result::Ok(#krate::types::IsNull::No)
                }
                #krate::to_sql_checked!();
                fn natural_type(&self) -> u32 {
                    0
                }
                fn binary(&self, _: u32) -> bool {
                    false
                }
            }
        }
        Shape::Newtype(inner) => {
            let (_, field) = newtype_access(input);
            // Everything as the inner type. A parameter of a domain over it takes the value
            // through the connection's type catalogue, as it takes the inner type's.
            quote! {
                fn accepts(oid: u32) -> bool {
                    <#inner as #krate::ToSql>::accepts(oid)
                }
                fn to_sql(&self, oid: u32, out: &mut ::std::vec::Vec<u8>) -> ::std::result::Result<#krate::types::IsNull, #krate::Error> {
                    #krate::ToSql::to_sql(&#field, oid, out)
                }
                fn encode(&self, oid: u32, out: &mut ::std::vec::Vec<u8>) -> ::std::result::Result<#krate::types::IsNull, #krate::Error> {
                    #krate::ToSql::encode(&#field, oid, out)
                }
                fn accepts_type(&self, oid: u32) -> bool {
                    #krate::ToSql::accepts_type(&#field, oid)
                }
                fn natural_type(&self) -> u32 {
                    #krate::ToSql::natural_type(&#field)
                }
                fn binary(&self, oid: u32) -> bool {
                    #krate::ToSql::binary(&#field, oid)
                }
            }
        }
        Shape::Composite(fields) => {
            let names = fields.iter().map(|(ident, _)| ident);
            quote! {
                fn accepts(oid: u32) -> bool {
                    #krate::types::derive_support::composite_accepts(oid)
                }
                fn to_sql(&self, _: u32, out: &mut ::std::vec::Vec<u8>) -> ::std::result::Result<#krate::types::IsNull, #krate::Error> {
                    #krate::types::derive_support::write_record(&[#(&self.#names as &dyn #krate::ToSql),*], out)?;
                    ::std::result::Result::Ok(#krate::types::IsNull::No)
                }
                #krate::to_sql_checked!();
                fn natural_type(&self) -> u32 {
                    0
                }
                fn binary(&self, _: u32) -> bool {
                    false
                }
            }
        }
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #krate::ToSql for #name #ty_generics #where_clause {
            #body
        }
    })
}

pub(crate) fn from_sql(input: &DeriveInput) -> syn::Result<Tokens> {
    let attrs = TypeAttrs::parse(&input.attrs)?;
    let krate = attrs.krate();
    let name = &input.ident;
    let (_, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut generics = input.generics.clone();
    let lifetime = match input.generics.lifetimes().next() {
        Some(l) => l.lifetime.clone(),
        None => {
            let l = syn::Lifetime::new("'__value", proc_macro2::Span::call_site());
            generics.params.insert(0, syn::GenericParam::Lifetime(syn::LifetimeParam::new(l.clone())));
            l
        }
    };
    let (impl_generics, _, _) = generics.split_for_impl();
    let body = match shape(input, &attrs, "FromSql")? {
        Shape::Enum(variants) => {
            let rust = name.to_string();
            let arms = variants.iter().map(|(v, label)| quote!(#label => ::std::result::Result::Ok(Self::#v)));
            quote! {
                fn accepts(oid: u32) -> bool {
                    #krate::types::derive_support::enum_accepts(oid)
                }
                fn accepts_format(oid: u32, _: i16) -> bool {
                    #krate::types::derive_support::enum_accepts(oid)
                }
                fn from_sql(oid: u32, format: i16, raw: &#lifetime [u8]) -> ::std::result::Result<Self, #krate::Error> {
                    Self::from_sql_in(#krate::types::Encoding::UTF8, oid, format, raw)
                }
                fn from_sql_in(
                    encoding: #krate::types::Encoding,
                    oid: u32,
                    format: i16,
                    raw: &#lifetime [u8],
                ) -> ::std::result::Result<Self, #krate::Error> {
                    let label = #krate::types::derive_support::enum_label(encoding, oid, format, raw)?;
                    match &*label {
                        #(#arms,)*
                        other => ::std::result::Result::Err(#krate::types::derive_support::unknown_label(#rust, oid, other)),
                    }
                }
            }
        }
        Shape::Newtype(inner) => {
            let (build, _) = newtype_access(input);
            quote! {
                fn accepts(oid: u32) -> bool {
                    <#inner as #krate::FromSql<#lifetime>>::accepts(oid)
                }
                fn accepts_format(oid: u32, format: i16) -> bool {
                    <#inner as #krate::FromSql<#lifetime>>::accepts_format(oid, format)
                }
                fn from_sql(oid: u32, format: i16, raw: &#lifetime [u8]) -> ::std::result::Result<Self, #krate::Error> {
                    <#inner as #krate::FromSql<#lifetime>>::from_sql(oid, format, raw).map(#build)
                }
                fn from_sql_in(
                    encoding: #krate::types::Encoding,
                    oid: u32,
                    format: i16,
                    raw: &#lifetime [u8],
                ) -> ::std::result::Result<Self, #krate::Error> {
                    <#inner as #krate::FromSql<#lifetime>>::from_sql_in(encoding, oid, format, raw).map(#build)
                }
                fn from_sql_null(oid: u32) -> ::std::result::Result<Self, #krate::Error> {
                    <#inner as #krate::FromSql<#lifetime>>::from_sql_null(oid).map(#build)
                }
            }
        }
        Shape::Composite(fields) => {
            let rust = name.to_string();
            let count = fields.len();
            let inits = fields.iter().map(|(ident, ty)| {
                let field = ident.to_string();
                let field = field.strip_prefix("r#").unwrap_or(&field).to_owned();
                quote! {
                    #ident: #krate::types::derive_support::record_field::<#ty>(
                        encoding,
                        format,
                        fields.next().ok_or_else(|| #krate::types::derive_support::bad_record(#rust))?,
                        #field,
                    )?
                }
            });
            quote! {
                fn accepts(oid: u32) -> bool {
                    #krate::types::derive_support::composite_accepts(oid)
                }
                fn accepts_format(oid: u32, _: i16) -> bool {
                    #krate::types::derive_support::composite_accepts(oid)
                }
                fn from_sql(oid: u32, format: i16, raw: &#lifetime [u8]) -> ::std::result::Result<Self, #krate::Error> {
                    Self::from_sql_in(#krate::types::Encoding::UTF8, oid, format, raw)
                }
                fn from_sql_in(
                    encoding: #krate::types::Encoding,
                    _: u32,
                    format: i16,
                    raw: &#lifetime [u8],
                ) -> ::std::result::Result<Self, #krate::Error> {
                    let mut fields = #krate::types::derive_support::record_fields(format, raw, #count, #rust)?.into_iter();
                    ::std::result::Result::Ok(Self { #(#inits),* })
                }
            }
        }
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #krate::FromSql<#lifetime> for #name #ty_generics #where_clause {
            #body
        }
    })
}
