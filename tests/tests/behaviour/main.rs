//! The behavioural suite: every test body runs over every transport against one throwaway
//! PostgreSQL started by `pgsans-harness` for this test binary.

mod basics;

use pgsans_tests::{AsyncStdClient, SmolClient, TokioClient};

/// Instantiates each generic test body once per transport.
macro_rules! over_every_transport {
    ($($test:ident),* $(,)?) => {
        mod std_transport { $( #[test] fn $test() { crate::basics::$test::<pgsans_std::Connection>() } )* }
        mod tokio_transport { $( #[test] fn $test() { crate::basics::$test::<crate::TokioClient>() } )* }
        mod smol_transport { $( #[test] fn $test() { crate::basics::$test::<crate::SmolClient>() } )* }
        mod async_std_transport { $( #[test] fn $test() { crate::basics::$test::<crate::AsyncStdClient>() } )* }
    };
}

over_every_transport!(
    every_auth_method_over_tcp,
    every_auth_method_over_unix_socket,
    url_connection_string,
    wrong_password_is_a_typed_error,
    unknown_user_and_database,
    multi_statement_results,
    null_is_distinct_from_empty,
    error_mid_batch,
    transaction_status_tracking,
    notices_are_collected,
    notifications_from_another_connection,
    parameter_status_and_server_version,
    startup_parameters_reach_the_server,
    close_is_idempotent_and_final,
    server_terminating_the_backend_breaks_the_connection,
    bad_input_is_refused_before_sending,
);
