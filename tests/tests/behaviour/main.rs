//! The behavioural suite: every test body runs over every transport against one throwaway
//! PostgreSQL started by `pgsans-harness` for this test binary.

mod basics;
mod blocking;
mod cert_shapes;
mod copy;
mod cursors;
mod defects;
mod derives;
mod dropped;
mod extended;
mod faults;
mod files;
mod lobjects;
mod multihost;
mod new_user;
mod nonblocking;
mod pauses;
mod pg18;
mod pipeline;
mod pool;
mod replay;
mod replication;
mod schema;
mod session;
mod shared;
mod spawn;
mod spin;
mod stalls;
mod text;
mod tls;
mod tracing_spans;
mod types;

use pgsans_tests::TestRt;

/// Instantiates each generic test body once per runtime, run on that runtime's executor.
macro_rules! over_every_transport {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod std_transport { use super::*; $( #[test] fn $test() { pgsans_std::Std::block_on(crate::$module::$test::<pgsans_std::Std>()) } )* }
        mod tokio_transport { use super::*; $( #[test] fn $test() { pgsans_tokio::Tokio::block_on(crate::$module::$test::<pgsans_tokio::Tokio>()) } )* }
        mod tokio_mt_transport { use super::*; $( #[test] fn $test() { pgsans_tests::TokioMt::block_on(crate::$module::$test::<pgsans_tests::TokioMt>()) } )* }
        mod smol_transport { use super::*; $( #[test] fn $test() { pgsans_smol::Smol::block_on(crate::$module::$test::<pgsans_smol::Smol>()) } )* }
        mod async_std_transport { use super::*; $( #[test] fn $test() { pgsans_tests::AsyncStd::block_on(crate::$module::$test::<pgsans_tests::AsyncStd>()) } )* }
    };
}

over_every_transport!(
    replication::logical_changes_arrive_decoded_and_feedback_moves_the_slot,
    replication::large_and_two_phase_transactions_and_a_dying_server,
    replication::physical_replication_streams_wal,
    lobjects::large_objects_read_write_seek_and_end_with_their_transaction,
    cursors::named_cursors_fetch_scroll_and_hold,
    faults::a_killed_backend_leaves_nothing_half_done,
    faults::a_silent_backend_times_out_and_the_connection_recovers,
    stalls::stalled_streams_and_copies_time_out,
    stalls::after_a_step_timeout_the_connection_is_usable,
    tracing_spans::spans_follow_opentelemetry_conventions,
    types::more_types_round_trip,
    types::extension_types,
    text::binary_values_have_the_servers_text,
    derives::rows_become_structs,
    derives::enums_and_domains_round_trip,
    derives::postgres_types_implementations_work_through_pg,
    derives::the_type_catalogue_follows_the_schema,
    derives::composites_round_trip,
    pool::a_pooled_connection_is_never_handed_out_or_left_in_a_transaction,
    pool::acquire_times_out_and_statistics_count,
    pool::acquire_timeout_holds_while_a_connection_drains,
    pool::broken_connections_are_replaced_and_checks_catch_dead_ones,
    pool::the_reset_policy_gives_each_user_a_fresh_session,
    pool::maintain_keeps_min_idle_and_closes_expired,
    shared::concurrent_callers_each_get_their_own_results,
    shared::a_transaction_has_the_connection_to_itself,
    shared::scopes_and_calls_dropped_anywhere_leave_a_clean_connection,
    shared::a_lease_has_every_method_and_gives_the_connection_back_clean,
    basics::every_auth_method_over_tcp,
    basics::every_auth_method_over_unix_socket,
    basics::url_connection_string,
    basics::wrong_password_is_a_typed_error,
    basics::unknown_user_and_database,
    basics::multi_statement_results,
    basics::null_is_distinct_from_empty,
    basics::error_mid_batch,
    basics::transaction_status_tracking,
    basics::notices_are_collected,
    basics::notifications_from_another_connection,
    basics::parameter_status_and_server_version,
    basics::startup_parameters_reach_the_server,
    basics::close_is_idempotent_and_final,
    basics::server_terminating_the_backend_breaks_the_connection,
    basics::bad_input_is_refused_before_sending,
    extended::values_round_trip,
    extended::arrays_and_integrations,
    extended::time_crate_values,
    extended::unknown_types_come_as_text,
    extended::type_mismatches_are_typed_errors,
    extended::query_helpers,
    extended::statement_cache,
    extended::changed_result_type_is_reprepared,
    extended::streaming_rows,
    extended::large_values,
    extended::portals_fetch_in_batches,
    extended::simple_query_rows_stream,
    pipeline::results_in_order_and_aborted_after_an_error,
    pipeline::sync_each_isolates_errors,
    pipeline::fifty_thousand_inserts_in_one_transaction,
    pipeline::big_in_both_directions_never_deadlocks,
    pipeline::more_distinct_texts_than_the_cache_holds,
    pipeline::interleaved_texts_and_parameter_types,
    schema::retyped_column_is_decoded_by_its_new_type,
    schema::redefined_sql_prepared_statement,
    schema::redeclared_cursor,
    schema::swapped_columns_keep_their_names,
    schema::binary_values_are_never_read_as_text,
    schema::array_lower_bounds_are_kept_or_refused,
    schema::own_ddl_inside_a_transaction_keeps_the_transaction,
    schema::changed_shapes_never_break_the_connection,
    schema::sql_deallocate_and_discard_keep_statements_working,
    schema::latin1_names_values_and_messages,
    schema::valid_values_beyond_rust_types_are_conversion_errors,
    schema::first_execution_parses_once,
    schema::extended_path_matches_simple_path,
    session::default_mode_opens_a_transaction,
    session::autocommit_mode,
    session::isolation_levels_ride_on_begin,
    session::characteristics_in_autocommit_use_session_defaults,
    session::set_session_inside_a_transaction_is_misuse,
    session::transaction_scopes,
    session::two_phase_commit_cycle,
    session::two_phase_recovery_from_another_connection,
    session::two_phase_misuse,
    session::reset_restores_the_session,
    session::cancel_a_running_query,
    session::notifications_while_idle,
    session::notices_limit_and_order,
    session::every_error_field,
    session::connection_information,
    session::call_timeout_cancels_on_the_server,
    session::streams_of_rows_and_notifications,
    spin::answers_are_the_same_whatever_the_spin_limit,
    new_user::copy_through_a_query_method_is_refused_and_nothing_hangs,
    new_user::close_after_the_server_broke_the_connection,
    new_user::cancel_after_tpc_prepare_is_misuse,
    new_user::tpc_prepare_without_server_support_is_not_supported,
    new_user::set_isolation_level_inside_a_transaction_rolls_it_back,
    new_user::a_peer_that_is_not_postgres_is_named_as_such,
    new_user::autocommit_chosen_at_connect,
    copy::copy_in_and_out_in_every_format,
    copy::a_large_copy_both_ways,
    copy::bad_data_ends_the_copy_at_once_with_the_server_error,
    copy::abort_and_drop_leave_the_connection_usable,
    copy::an_error_mid_copy_out,
    copy::the_server_killed_mid_copy,
    copy::typed_binary_copy_both_ways,
    copy::copy_values_are_the_io_traits,
    tls::verify_full_with_the_test_ca,
    tls::host_name_and_issuer_are_checked,
    tls::require_prefer_and_disable,
    tls::second_attempts_for_allow_and_prefer,
    tls::client_certificates,
    tls::hostile_answers_to_the_ssl_request,
    tls::cancel_travels_over_tls,
    tls::hostile_tls_handshakes,
    tls::crls_sni_and_tls_versions,
    tls::scram_channel_binding,
    tls::require_auth,
    multihost::target_session_attrs_pick_the_right_server,
    multihost::prefer_standby_falls_back_to_the_primary,
    multihost::dead_and_silent_hosts_are_skipped,
    multihost::a_refused_session_ends_the_attempt,
    multihost::load_balance_hosts_random,
    multihost::tcp_keepalive_options,
    multihost::requirepeer_on_unix_sockets,
    pg18::direct_tls,
    pg18::protocol_3_2,
    files::service_files,
    files::pgpass_file,
    files::session_defaults_from_the_environment,
    files::files_are_read_at_each_connect,
    defects::notifications_on_the_socket_are_returned_by_a_zero_timeout,
    defects::notifications_left_in_a_dropped_stream_are_kept,
    defects::extra_parameters_are_refused_before_sending,
    defects::broken_stays_true_after_close,
    defects::set_isolation_level_takes_the_autocommit_level,
    defects::a_refused_copy_names_the_copy_methods,
    defects::chrono_offsets_and_local_times,
    dropped::the_statement_after_a_dropped_scope_opens_a_transaction,
    dropped::futures_dropped_at_every_await_point,
    dropped::cancelled_scope_future_leaves_nothing_open,
    dropped::a_dropped_request_still_running_is_cancelled,
    pauses::copy_out_with_a_pausing_reader,
    pauses::row_streams_with_a_pausing_reader,
    pauses::pipelines_with_pauses_between_them,
    pauses::notifications_taken_with_pauses,
    pauses::tls_reads_with_pauses,
);

/// Behaviours that only exist where an operation is a future that can be dropped mid-flight
/// by a timer of the runtime.
mod async_transports {
    use pgsans_tests::TestRt;

    #[test]
    fn tokio_dropped_operation_leaves_the_connection_usable() {
        pgsans_tokio::Tokio::block_on(crate::basics::dropped_operation_leaves_the_connection_usable::<
            pgsans_tokio::Tokio,
        >())
    }
    #[test]
    fn tokio_mt_dropped_operation_leaves_the_connection_usable() {
        pgsans_tests::TokioMt::block_on(crate::basics::dropped_operation_leaves_the_connection_usable::<
            pgsans_tests::TokioMt,
        >())
    }
    #[test]
    fn smol_dropped_operation_leaves_the_connection_usable() {
        pgsans_smol::Smol::block_on(crate::basics::dropped_operation_leaves_the_connection_usable::<pgsans_smol::Smol>())
    }
    #[test]
    fn async_std_dropped_operation_leaves_the_connection_usable() {
        pgsans_tests::AsyncStd::block_on(crate::basics::dropped_operation_leaves_the_connection_usable::<
            pgsans_tests::AsyncStd,
        >())
    }
    // The blocking client has no executor to share: only the async transports.
    #[test]
    fn tokio_long_results_let_other_tasks_run() {
        pgsans_tokio::Tokio::block_on(crate::basics::long_results_let_other_tasks_run::<pgsans_tokio::Tokio>())
    }
    #[test]
    fn tokio_mt_long_results_let_other_tasks_run() {
        pgsans_tests::TokioMt::block_on(crate::basics::long_results_let_other_tasks_run::<pgsans_tests::TokioMt>())
    }
    #[test]
    fn smol_long_results_let_other_tasks_run() {
        pgsans_smol::Smol::block_on(crate::basics::long_results_let_other_tasks_run::<pgsans_smol::Smol>())
    }
    #[test]
    fn async_std_long_results_let_other_tasks_run() {
        pgsans_tests::AsyncStd::block_on(crate::basics::long_results_let_other_tasks_run::<pgsans_tests::AsyncStd>())
    }
}
