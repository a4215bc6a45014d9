//! doorman's integration tests: one binary (linking is the slow part), a real
//! server per test on 127.0.0.1:0, every request through the typed client.
//!
//! Each scenario is written once, as `async fn(&Kit) -> anyhow::Result<()>`,
//! and [`scenarios!`] turns it into two tests, `sqlite::<name>` and
//! `postgres::<name>`. The PostgreSQL ones run when `DOORMAN_TEST_POSTGRES_URL`
//! is set (`.ci/run` sets it) and otherwise say they were skipped. The test
//! kit crate's own tests (`testkit::*`) are plain tests over SQLite.

// All of this binary is test code: the workspace's bans on panicking
// shortcuts are for the service, and clippy sees only `#[test]` functions
// (not the kit and scenarios they call) as tests.
#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod access;
mod audit;
mod authz;
mod bad_input;
mod bench;
mod browser_audit;
mod browser_passkeys;
mod browser_resident;
mod cli_roles;
mod concurrency;
mod dashboard;
mod domain;
mod doors;
mod faults;
mod findings;
mod fixture;
mod fleet;
mod guests;
mod kit;
mod lock;
mod mail;
mod metrics;
mod naming;
mod notify;
mod openapi;
mod passkeys;
mod refusals;
mod scale;
mod simulate;
mod soft_passkey;
mod structure;
mod tenancy;
mod testkit;
mod tokens;
mod vehicles;
mod webdriver;
mod webhooks;

/// `scenarios!(module::name, module::name with config_fn, ...)`: a SQLite and
/// a PostgreSQL test for each scenario; `with` names a `fn() -> ServiceConfig`
/// for scenarios that need other settings than the kit's. A scenario marked
/// `[restarts]` takes the kit by value and gives back the one it ends with
/// (`Kit::restart` consumes the old one).
macro_rules! scenarios {
    ($($module:ident :: $name:ident $([$how:ident])? $(with $config:path)?),* $(,)?) => {
        scenarios!(@backend sqlite, Sqlite, $($module :: $name $([$how])? $(with $config)?),*);
        scenarios!(@backend postgres, Postgres, $($module :: $name $([$how])? $(with $config)?),*);
    };
    (@backend $mod_name:ident, $backend:ident, $($module:ident :: $name:ident $([$how:ident])? $(with $config:path)?),*) => {
        mod $mod_name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let config = scenarios!(@config $($config)?);
                    let Some(kit) = crate::kit::Kit::start_with(crate::kit::Backend::$backend, config).await? else {
                        return Ok(());
                    };
                    let kit = scenarios!(@run $($how)? crate::$module::$name, kit);
                    kit.stop().await
                }
            )*
        }
    };
    (@run restarts $scenario:path, $kit:ident) => { $scenario($kit).await? };
    (@run $scenario:path, $kit:ident) => {{ $scenario(&$kit).await?; $kit }};
    (@config $config:path) => { $config() };
    (@config) => { crate::kit::default_config() };
}

scenarios!(
    // the role commands and `doorman apply`, through the real binary
    cli_roles::cli_a_building_from_nothing_to_a_granted_delivery,
    cli_roles::cli_names_that_are_missing_or_ambiguous_fail_clearly,
    cli_roles::cli_apply_removes_and_the_edit_verbs_work_by_name,
    cli_roles::cli_each_role_s_other_verbs,
    // the web dashboard: in headless Chromium, and its sessions under attack
    dashboard::dashboard_in_a_real_browser,
    dashboard::dashboard_from_nothing_on_a_phone,
    dashboard::dashboard_from_nothing_on_a_desktop,
    dashboard::dashboard_forms_keep_what_was_typed_and_cross_no_tenant,
    dashboard::dashboard_edits_and_removes_the_structure,
    dashboard::dashboard_changes_and_removals,
    dashboard::dashboard_carrier_announces_updates_and_cancels,
    dashboard::dashboard_resident_controls,
    dashboard::dashboard_refuses_forged_and_sessionless_changes with crate::kit::relaxed_auth_config,
    dashboard::dashboard_live_stream_sends_only_the_principals_events,
    dashboard::dashboard_marks_only_proven_entries_verified,
    browser_audit::audit_page_verifies_the_log_in_the_browser,
    // a new resident's walk through the dashboard, phone and desktop
    browser_resident::browser_resident_walkthrough_on_a_phone,
    browser_resident::browser_resident_walkthrough_on_a_desktop,
    // names in timelines: who and where, for whom the API would show them
    naming::names_say_who_and_where_only_to_whom_the_api_would,
    // passkeys: in Chromium's virtual authenticator, and attacked with a software one
    browser_passkeys::browser_passkeys_register_sign_in_add_and_remove,
    passkeys::passkeys_sign_in_and_refuse_replays_clones_and_strangers with crate::kit::relaxed_auth_config,
    passkeys::reinvited_resident_comes_back_as_the_same_account,
    // every refusal reason, in the situation that causes it
    refusals::refusal_parcel_unknown,
    refusals::refusal_parcel_not_addressed_here,
    refusals::refusal_parcel_already_delivered,
    refusals::refusal_delivery_closed,
    refusals::refusal_tenant_notice_missing,
    refusals::refusal_carrier_not_enabled,
    refusals::refusal_carrier_outside_hours,
    refusals::refusal_driver_suspended,
    refusals::refusal_driver_not_vetted,
    refusals::refusal_handheld_not_registered,
    refusals::refusal_driver_not_at_property,
    refusals::refusal_outside_delivery_window,
    refusals::refusal_resident_blocked,
    refusals::refusal_drop_spot_not_allowed,
    refusals::refusal_no_way_through,
    refusals::refusal_access_already_granted,
    refusals::rules_are_checked_in_their_fixed_order,
    // grants, credentials at the lock, blocks, the delivery lifecycle
    access::granted_request_opens_exactly_the_path,
    access::in_unit_drop_goes_through_the_unit_door,
    access::block_revokes_a_live_grant,
    access::complete_delivery_flow_and_its_errors,
    access::invitations_are_one_time,
    // authorization crossings
    authz::another_managers_property,
    authz::another_carriers_parcel,
    authz::another_carriers_driver,
    authz::another_driver_of_the_same_carrier,
    authz::another_unit,
    authz::wrong_role_on_every_endpoint_family,
    authz::missing_bad_and_malformed_tokens with crate::kit::relaxed_auth_config,
    authz::repeated_bad_tokens_are_rate_limited with crate::authz::low_auth_limit,
    // issue 17's findings, attempted again
    findings::a_bad_token_flood_never_locks_out_a_valid_token with crate::findings::low_limit_behind_a_proxy,
    findings::access_requests_are_limited_per_driver_not_per_address with crate::findings::few_access_requests_per_driver,
    findings::integers_beyond_the_database_range_are_refused_not_500,
    findings::webhooks_to_other_spellings_of_private_hosts_are_refused,
    findings::json_arrays_are_refused_where_an_object_is_expected with crate::kit::relaxed_auth_config,
    findings::ids_of_others_and_random_ids_are_answered_alike,
    findings::clips_are_served_with_the_type_the_service_allows with crate::doors::small_clips,
    findings::dashboard_pages_forbid_inline_code_and_framing,
    findings::carriers_and_drivers_never_read_residents_or_managers_ids,
    findings::every_answer_is_in_the_document with crate::kit::relaxed_auth_config,
    // what an operator watches
    metrics::metrics_count_what_happened_in_the_text_format with crate::metrics::with_metrics_token,
    // one parcel, many drivers at once
    concurrency::fifty_simultaneous_requests_yield_one_credential,
    // what the service does with input it cannot use
    bad_input::malformed_json,
    bad_input::wrong_types_and_missing_fields,
    bad_input::invalid_values_write_nothing,
    bad_input::unknown_ids,
    bad_input::bad_ids_in_paths,
    bad_input::oversized_bodies,
    bad_input::wrong_content_type,
    bad_input::unknown_routes_and_wrong_methods,
    bad_input::conflicts_write_nothing,
    bad_input::garbage_on_every_operation_never_500 with crate::kit::relaxed_auth_config,
    // the API document
    openapi::document_lists_every_route with crate::kit::relaxed_auth_config,
    // the transparency log: every change in it, each reader's view, tampering found
    audit::every_change_is_logged_and_verifies,
    audit::checkpoints_tiles_and_proofs_follow_c2sp,
    audit::tampering_is_detected,
    audit::lock_event_chains_are_checked,
    audit::key_rotation_is_logged,
    audit::a_checkpoint_kept_with_jq_verifies,
    // the log defends itself against its own database
    audit::log_rows_deleted_in_the_database_are_found,
    audit::log_rollback_is_refused_not_forked,
    audit::tiles_and_checkpoint_carry_cache_headers,
    // the lock fleet through the service, its store and a real broker
    // door events from lock events, the ajar alarm, camera clips
    doors::door_events_reach_the_right_principals_in_order,
    doors::a_delivery_s_whole_story_in_order with crate::doors::small_clips,
    doors::the_owner_is_told_when_the_trunk_opens_and_closes,
    doors::door_held_open_is_logged_ajar_once with crate::doors::ajar_after_30s,
    doors::clips_are_kept_shown_to_the_right_people_and_deleted with crate::doors::small_clips,
    doors::a_guest_s_door_events_and_clip_belong_to_the_host_s_unit with crate::doors::small_clips,
    fleet::fleet_deliveries_reach_the_service,
    fleet::fleet_block_reaches_an_online_lock_within_two_seconds,
    fleet::fleet_cancelled_delivery_is_refused_within_two_seconds,
    fleet::fleet_offline_lock_catches_up_without_loss_or_doubles,
    fleet::fleet_stale_camera_refuses_deliveries_and_it_is_reported,
    fleet::fleet_another_locks_account_cannot_reach_this_lock,
    fleet::fleet_on_mosquitto_runs_the_same_story,
    fleet::fleet_killed_lock_process_loses_nothing,
    fleet::fleet_provisioned_bundle_runs_as_a_lock_process,
    fleet::fleet_resident_opens_a_shared_door_remotely,
    // faults survived, keys rotated while deliveries go on
    faults::fleet_faults_mosquitto_restarted_locks_resync_and_revocations_arrive,
    faults::fleet_key_rotation_keeps_deliveries_going_and_retires_the_old_key,
    // notifications: the event feed, its live stream, webhooks
    notify::every_notification_of_a_delivery_in_order_to_the_right_principals,
    notify::resuming_with_last_event_id_loses_and_repeats_nothing,
    notify::a_second_process_streams_what_the_first_writes,
    notify::block_then_divert_end_to_end with crate::webhooks::receivers_allowed,
    notify::tenant_notice_and_resident_choices,
    notify::a_return_is_picked_up_with_a_pickup_grant,
    webhooks::webhooks_are_signed_retried_across_a_restart_and_tenant_bound [restarts] with crate::webhooks::receivers_allowed,
    webhooks::dead_letter_after_hours_of_retries_then_resend with crate::webhooks::receivers_allowed,
    // garages and car trunks
    vehicles::trunk_delivery_needs_the_car_parked_at_the_address,
    vehicles::trunk_delivery_only_inside_the_window,
    vehicles::vehicle_positions_are_the_owners_alone,
    vehicles::garage_door_is_a_door_like_any_other,
    // guests
    guests::guest_pass_opens_only_the_units_doors_inside_its_window,
    guests::guest_pass_limits_and_crossings,
    guests::trunk_code_works_once_inside_its_window,
    guests::revoked_guest_pass_is_refused_by_an_online_lock,
    // API tokens: revoked by whoever holds them, an operator token minted offline
    tokens::revoked_token_gets_401_and_its_sessions_end with crate::kit::relaxed_auth_config,
    tokens::operator_token_is_minted_offline_and_any_token_revoked_from_the_cli with crate::kit::relaxed_auth_config,
    // changing and removing what a manager made
    structure::property_edits_are_checked_and_logged,
    structure::units_are_relabelled_and_removed_when_nothing_is_in_the_way,
    structure::doors_move_without_cycles_and_go_only_when_free,
    structure::drop_spots_are_edited_and_leave_the_carriers_lists,
    structure::locks_are_decommissioned_and_replaced,
    structure::structure_routes_refuse_every_crossing,
    structure::fleet_decommissioned_lock_is_refused_by_the_embedded_broker,
    structure::fleet_decommissioned_lock_is_refused_by_mosquitto,
    // life over time: carriers dropped, residents moving out, handover, the carrier's directory
    tenancy::carrier_removed_or_disabled_loses_its_credentials,
    tenancy::fleet_removed_carrier_is_refused_by_an_online_lock_within_two_seconds,
    tenancy::moved_out_resident_is_refused_and_the_next_reads_from_move_in,
    tenancy::handed_over_property_is_forbidden_to_the_old_manager,
    tenancy::carrier_directory_and_delivery_by_unit_label,
    // several service processes on one database and one broker
    scale::fleet_remote_unlocks_are_answered_by_whichever_process_the_lock_reaches,
);
