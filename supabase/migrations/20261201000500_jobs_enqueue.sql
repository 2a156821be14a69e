-- Baseline (5/9): enqueue. A generation POST's one database round trip: idempotency, the
-- per-user rate limit and active-job cap, then the job and its pending rows, all in one
-- transaction (SPEC §5: a job is never lost between the row and the queue).
-- Lease rule (all jobs_* files): a caller holds a job while its lease_token matches and the job
-- is non-terminal. Every function is SECURITY DEFINER with an empty search_path and fully
-- qualified names, executable only by service_role (and its owner, postgres).

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
  p_deadline_seconds int default 3600,
  p_signup_grant int default 0
)
returns table (outcome text, job_id uuid, retry_after_seconds int, balance int, price int)
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
  v_price int := 0;
  v_available int;
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
      return query select 'existing'::text, v_id, null::int, null::int, null::int;
    else
      return query select 'conflict'::text, v_id, null::int, null::int, null::int;
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
        greatest(1, ceil(extract(epoch from (coalesce(v_edge, now()) + interval '60 seconds' - now())))::int),
        null::int, null::int;
      return;
    end if;
  end if;

  -- (c) active cap.
  if p_max_active is not null then
    select count(*) into v_count
    from public.jobs j
    where j.user_id = p_user_id and j.state in ('queued', 'running');
    if v_count >= p_max_active then
      return query select 'too_many_active'::text, null::uuid, 30, null::int, null::int;
      return;
    end if;
  end if;

  -- (d) credits: the kind's price is held for the job (credits.sql). The user's enqueues are
  -- serialized by the lock above, so two cannot spend the same credits.
  select p.price into v_price from public.credit_prices p where p.kind = p_kind;
  v_price := coalesce(v_price, 0);
  if v_price > 0 or coalesce(p_signup_grant, 0) > 0 then
    v_available := bff.credit_available(p_user_id, p_signup_grant);
    if v_available < v_price then
      return query select 'insufficient_credits'::text, null::uuid, null::int, v_available, v_price;
      return;
    end if;
  end if;

  -- (e) the job and its rows, in this same transaction.
  insert into public.jobs (
    user_id, kind, provider, client_task_id, request, idempotency_key, request_hash,
    rate_bucket, max_attempts, run_at, deadline_at, cost
  ) values (
    p_user_id, p_kind, p_provider, p_client_task_id, p_request, p_idempotency_key,
    p_request_hash, p_rate_bucket, coalesce(p_max_attempts, 8), now(),
    now() + make_interval(secs => coalesce(p_deadline_seconds, 3600)), v_price
  )
  returning id into v_id;
  if v_price > 0 then
    insert into public.credit_ledger (user_id, entry, amount, job_id, reason)
    values (p_user_id, 'reserve', v_price, v_id, p_kind);
  end if;

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

  return query select 'created'::text, v_id, null::int, v_available - v_price, v_price;
end
$$;
comment on function bff.enqueue_job(uuid, text, text, text, jsonb, text, text, text, int, int, int, jsonb, int, int, int) is
  'Enqueues one AI job and its pending rows in one transaction, holding its price in credits. '
  'Outcomes: created, existing (same idempotency key and request), conflict (same key, other '
  'request), rate_limited, too_many_active (with retry_after_seconds), insufficient_credits '
  '(with balance and price).';
revoke all on function
  bff.enqueue_job(uuid, text, text, text, jsonb, text, text, text, int, int, int, jsonb, int, int, int)
  from public, anon, authenticated;
grant execute on function
  bff.enqueue_job(uuid, text, text, text, jsonb, text, text, text, int, int, int, jsonb, int, int, int)
  to service_role;
