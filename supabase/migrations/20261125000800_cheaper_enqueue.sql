-- Cheaper enqueue (a generation POST's one database round trip), measured by `npm run bench`:
-- * the idempotency lookup is answered by jobs_idempotency_uniq (its condition now repeats the
--   index predicate on the column), not by a walk over all of the user's jobs;
-- * the two Tripo partial indexes hold only the rows tripo_in_flight() counts (submitted, or
--   leased for submission), so inserting a job, or claiming one that waits, no longer writes them.

drop index if exists public.jobs_tripo_active_idx;
create index jobs_tripo_active_idx on public.jobs (submitted_at)
  where provider = 'tripo' and state in ('queued', 'running') and submitted_at is not null;
drop index if exists public.jobs_tripo_leased_idx;
create index jobs_tripo_leased_idx on public.jobs (lease_expires_at)
  where provider = 'tripo' and state in ('queued', 'running') and submitted_at is null
    and lease_expires_at is not null;

create or replace function bff.enqueue_job(
  p_user_id uuid,
  p_kind text,
  p_provider text,
  p_client_task_id text,
  p_request jsonb,
  p_idempotency_key text,
  p_request_hash text,
  p_rate_bucket text,
  p_rate_limit int,
  p_max_active int,
  p_outputs int,
  p_rows jsonb,
  p_max_attempts int default 8,
  p_deadline_seconds int default 3600
)
returns table (outcome text, job_id uuid, retry_after_seconds int)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id uuid;
  v_hash text;
  v_count int;
  v_edge timestamptz;
  v_table text := coalesce(p_rows ->> 'table', case p_provider when 'openai' then 'concept_images' else 'models' end);
  v_task_id text := coalesce(p_rows ->> 'task_id', p_client_task_id);
begin
  if p_provider = 'openai' and v_table <> 'concept_images'
     or p_provider = 'tripo' and v_table <> 'models' then
    raise exception 'enqueue_job: provider % cannot write table %', p_provider, v_table
      using errcode = '22023';
  end if;
  if p_provider = 'openai' and (p_outputs is null or p_outputs < 1 or p_outputs > 10) then
    raise exception 'enqueue_job: p_outputs must be 1..10 for openai, got %', p_outputs
      using errcode = '22023';
  end if;

  -- One user's enqueues run one at a time, so the checks below cannot race each other.
  perform pg_advisory_xact_lock(hashtext('bff.enqueue_job'), hashtext(p_user_id::text));

  -- (a) idempotency. hdr: keys match any earlier job; other keys only a job that may still
  -- succeed, so a failed or cancelled request can be retried with the same body.
  -- The condition repeats jobs_idempotency_uniq's predicate on the column, so that unique index
  -- answers it (one probe, whatever the user's history).
  select j.id, j.request_hash into v_id, v_hash
  from public.jobs j
  where j.user_id = p_user_id
    and j.kind = p_kind
    and j.idempotency_key = p_idempotency_key
    and (j.idempotency_key like 'hdr:%' or j.state not in ('failed', 'cancelled'))
  limit 1;
  if found then
    if v_hash = p_request_hash then
      return query select 'existing'::text, v_id, null::int;
    else
      return query select 'conflict'::text, v_id, null::int;
    end if;
    return;
  end if;

  -- (b) rate limit: jobs of this bucket created in the last 60 s.
  if p_rate_limit is not null then
    select count(*) into v_count
    from public.jobs j
    where j.user_id = p_user_id and j.rate_bucket = p_rate_bucket
      and j.created_at > now() - interval '60 seconds';
    if v_count >= p_rate_limit then
      -- A slot frees when the job at position (count - limit) from the oldest leaves the window.
      select j.created_at into v_edge
      from public.jobs j
      where j.user_id = p_user_id and j.rate_bucket = p_rate_bucket
        and j.created_at > now() - interval '60 seconds'
      order by j.created_at
      offset greatest(v_count - greatest(p_rate_limit, 0), 0)
      limit 1;
      return query select
        'rate_limited'::text,
        null::uuid,
        greatest(1, ceil(extract(epoch from (coalesce(v_edge, now()) + interval '60 seconds' - now())))::int);
      return;
    end if;
  end if;

  -- (c) active cap.
  if p_max_active is not null then
    select count(*) into v_count
    from public.jobs j
    where j.user_id = p_user_id and j.state in ('queued', 'running');
    if v_count >= p_max_active then
      return query select 'too_many_active'::text, null::uuid, 30;
      return;
    end if;
  end if;

  -- (d) the job and its rows, in this same transaction.
  insert into public.jobs (
    user_id, kind, provider, client_task_id, request, idempotency_key, request_hash,
    rate_bucket, max_attempts, run_at, deadline_at
  ) values (
    p_user_id, p_kind, p_provider, p_client_task_id, p_request, p_idempotency_key,
    p_request_hash, p_rate_bucket, coalesce(p_max_attempts, 8), now(),
    now() + make_interval(secs => coalesce(p_deadline_seconds, 3600))
  )
  returning id into v_id;

  if p_provider = 'openai' then
    insert into public.concept_images (
      task_id, user_id, source_input_asset_id, prompt, style, status, job_id, image_index, metadata
    )
    select v_task_id, p_user_id, nullif(p_rows ->> 'source_input_asset_id', '')::uuid,
      p_rows ->> 'prompt', p_rows ->> 'style', 'pending', v_id, i, p_rows -> 'metadata'
    from generate_series(0, p_outputs - 1) as i;
  else
    insert into public.models (
      task_id, user_id, source_input_asset_id, source_concept_image_id, prompt, style, status,
      job_id, metadata
    ) values (
      v_task_id, p_user_id, nullif(p_rows ->> 'source_input_asset_id', '')::uuid,
      nullif(p_rows ->> 'source_concept_image_id', '')::uuid,
      p_rows ->> 'prompt', p_rows ->> 'style', 'pending', v_id, p_rows -> 'metadata'
    );
  end if;

  return query select 'created'::text, v_id, null::int;
end
$$;

-- Waking the worker moves out of the insert. A NOTIFY in the enqueue transaction made its commit
-- take PostgreSQL's global notify lock, so concurrent enqueues committed one at a time; the
-- generation functions now send this separate, coalesced wake-up after their enqueue commits
-- (at most one in flight per isolate), and only while a process-jobs loop says it is listening.
drop trigger if exists jobs_notify_new on public.jobs;
drop function if exists bff.notify_new_jobs();

create or replace function bff.wake_workers()
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Nothing to make durable: a wake-up lost in a crash costs at most the worker's next poll.
  perform set_config('synchronous_commit', 'off', true);
  perform pg_notify('bff_jobs', '');
end
$$;
comment on function bff.wake_workers() is
  'NOTIFY bff_jobs: a listening process-jobs loop claims what is due at once. Sent by the '
  'generation functions after their enqueue commits.';
revoke all on function bff.wake_workers() from public, anon, authenticated;
grant execute on function bff.wake_workers() to service_role;
