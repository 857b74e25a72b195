//! The list of cases: each runs once on SQLite, once on PostgreSQL and once on the memory store
//! (`suite::graphs::stale_base_is_a_conflict::postgres`), through the workspace's one
//! backend-test macro (`orrery_store::backend_tests!`) and `harness::run`.

macro_rules! conformance {
    ($($group:ident: [$($case:ident),* $(,)?]),* $(,)?) => {$(
        mod $group {
            #[allow(unused_imports)]
            use crate::cases::$group::*;

            orrery_store::backend_tests! {
                run = crate::harness::run,
                backends = [sqlite, postgres, memory],
                cases = [$($case),*],
            }
        }
    )*};
}

conformance! {
    accounts: [
        email_changes_are_single_use_and_keep_emails_unique,
        deleting_a_paying_account_keeps_an_anonymous_billing_record,
    ],
    users: [
        users_round_trip,
        users_are_listed_searched_and_paged_stably,
        users_are_filtered_by_activity_and_creation_time,
        taken_email_google_account_or_customer_is_a_conflict,
        bad_user_input_is_a_typed_error,
        missing_users_are_not_found,
        store_answers_pings_and_migrations_run_once,
    ],
    graphs: [
        saved_graph_loads_back_identical,
        versions_are_immutable_and_chained,
        moving_nodes_is_not_a_new_version,
        returning_to_earlier_content_is_a_new_version,
        stale_base_is_a_conflict,
        concurrent_updates_from_one_base_have_one_winner_per_version,
        failed_head_update_leaves_no_orphan_version,
        failing_trigger_between_version_and_head_leaves_nothing,
        taken_graph_name_or_agent_id_is_a_conflict,
        ten_megabyte_document_round_trips_in_canonical_form,
        oversized_documents_are_refused_with_a_limit_error,
        bad_graph_input_is_a_typed_error,
        graphs_are_listed_filtered_searched_and_paged_stably,
        callers_of_an_agent_follow_the_head_version,
        agents_are_found_by_id_when_readable,
        deleting_a_graph_deletes_its_versions,
        concurrent_creates_stop_at_the_graph_quota,
        events_are_recorded_with_the_update_and_never_without_it,
    ],
    storage: [
        repeated_large_versions_are_stored_compactly,
        long_histories_read_back_through_whole_versions,
        stored_bytes_quota_refuses_growth_and_writes_nothing,
        concurrent_saves_stop_at_the_stored_bytes_quota,
        pruning_keeps_the_newest_versions_and_pinned_ones,
        every_change_bumps_the_revision_and_a_stale_one_is_a_conflict,
        versions_from_before_packing_stay_readable,
    ],
    isolation: [
        private_graphs_of_others_are_not_found,
        keys_usage_and_events_of_others_are_out_of_reach,
    ],
    keys: [
        api_keys_round_trip,
        api_keys_are_stored_hashed,
        rotating_a_key_revokes_it_and_keeps_its_name,
        revoking_says_whether_this_call_revoked_the_key,
        concurrent_creates_stop_at_the_key_quota,
    ],
    tokens: [
        refresh_tokens_rotate_and_reuse_revokes_the_family,
        expired_and_revoked_refresh_tokens_are_invalid,
        reset_tokens_are_single_use_and_expire,
        concurrent_resets_with_one_token_have_one_winner,
    ],
    billing: [
        stale_subscription_state_does_not_overwrite_newer,
        subscriptions_are_found_by_provider_ids,
        webhook_events_are_recorded_once,
    ],
    usage: [
        usage_is_counted_per_user_and_key_over_a_period,
        batches_of_usage_are_written_together_and_time_summed,
        usage_history_buckets_by_day_week_and_month,
        sessions_are_runs_of_calls_without_long_pauses,
        events_are_recorded_filtered_and_paged,
    ],
    retention: [
        pruned_usage_is_rolled_into_daily_totals_and_counts_stay_exact,
        concurrent_pruners_count_every_call_once,
        events_mail_tokens_and_receipts_are_pruned_by_age,
    ],
    email: [
        templates_are_seeded_with_their_variables,
        templates_are_saved_and_replaced,
        outbox_dedupes_by_key,
        concurrent_leasers_never_get_the_same_mail,
        outbox_reschedules_fails_and_frees_expired_leases,
    ],
    export: [
        export_holds_the_accounts_data_and_no_secrets,
        deleting_a_user_cascades_to_everything_they_own,
    ],
}
