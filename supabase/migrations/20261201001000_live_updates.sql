-- Live job updates (SPEC §9): every change of a job the app cares about (accepted, started,
-- progress, ETA, queue position, complete, failed, cancelled) is broadcast from the database, in
-- the same transaction as the change, as event `job` on the private topic `user:<user_id>:jobs`.
-- The payload is bff.job_view (what task-status answers, minus anything that expires) with a
-- per-job increasing `seq`. Only the owner may receive the topic; nobody may broadcast into it.
--
-- The messages go into realtime.messages as realtime.send writes them (extension `broadcast`,
-- the message id also in the payload, private), one INSERT for all the rows a statement changed
-- rather than one realtime.send call (a subtransaction each) per row: the claim and completion
-- change dozens of jobs at once. As in realtime.send, a failed broadcast is only a WARNING: the
-- job's own change never fails because of it (events are a view; the database is the truth).

-- seq: bumped by every change the app can see; a claim that only renews a lease sends nothing.
create or replace function bff.bump_event_seq()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.event_seq := old.event_seq + 1;
  return new;
end
$$;
comment on function bff.bump_event_seq() is
  'Trigger: a change the app sees bumps the job''s event seq.';
revoke all on function bff.bump_event_seq() from public, anon, authenticated;

drop trigger if exists jobs_event_seq on public.jobs;
create trigger jobs_event_seq before update on public.jobs
  for each row when (
    old.state is distinct from new.state
    or old.progress is distinct from new.progress
    or old.eta_seconds is distinct from new.eta_seconds
    or old.error_code is distinct from new.error_code
    or old.result is distinct from new.result
  )
  execute function bff.bump_event_seq();

-- Writes one `job` message per event into realtime.messages (see the header). p_events is a
-- JSON array of {user_id, payload}.
create or replace function bff.send_job_events(p_events jsonb)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_events is null or to_regclass('realtime.messages') is null then
    return;
  end if;
  begin
    insert into realtime.messages (id, topic, extension, event, private, payload)
    select m.id, 'user:' || (m.e ->> 'user_id') || ':jobs', 'broadcast', 'job', true,
           (m.e -> 'payload') || jsonb_build_object('id', m.id)
    from (select gen_random_uuid() as id, e from jsonb_array_elements(p_events) e) m;
  exception when others then
    raise warning 'bff.send_job_events: % (the jobs changed; their events were not sent)', sqlerrm;
  end;
end
$$;
comment on function bff.send_job_events(jsonb) is
  'Sends `job` events [{user_id, payload}] to their owners'' private topics (best effort, as '
  'realtime.send).';
revoke all on function bff.send_job_events(jsonb) from public, anon, authenticated;

-- Accepted: the jobs an INSERT statement created, with their places in the queue.
create or replace function bff.broadcast_inserted_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_events jsonb;
begin
  -- One count per provider for the jobs queued before this statement's first one, then each
  -- new job's rank among its own: exact for the one-row inserts of enqueue_job, one query for
  -- a bulk insert.
  with first_of as (
    select distinct on (n.provider) n.provider, n.run_at, n.id
    from new_rows n
    order by n.provider, n.run_at, n.id
  ),
  -- Materialized: otherwise the planner runs the count once per new row instead of per provider.
  base as materialized (
    select f.provider, (
      select count(*)::int from (
        select 1 from public.jobs x
        where x.state = 'queued' and x.provider = f.provider and (x.run_at, x.id) < (f.run_at, f.id)
        limit 1000
      ) ahead
    ) as ahead
    from first_of f
  )
  select jsonb_agg(e.event order by e.id) into v_events
  from (
    select j.id, jsonb_build_object('user_id', j.user_id, 'payload', bff.job_view(j,
             case when j.state = 'queued' then least(b.ahead - 1 + row_number() over (
               partition by j.provider order by j.run_at, j.id), 1000)::int else 0 end)) as event
    from new_rows j
    join base b on b.provider = j.provider
  ) e;
  perform bff.send_job_events(v_events);
  return null;
end
$$;
comment on function bff.broadcast_inserted_jobs() is
  'Statement trigger on public.jobs inserts: the accepted event of each new job.';
revoke all on function bff.broadcast_inserted_jobs() from public, anon, authenticated;

-- Everything after: the jobs an UPDATE statement changed in a way the app sees (seq bumped).
-- When Tripo jobs leave the queue (claimed for submission, cancelled), the jobs waiting behind
-- them move up: the first ones get an event with their new place (their seq bumped too).
create or replace function bff.broadcast_updated_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_events jsonb;
  v_moved boolean;
begin
  select jsonb_agg(jsonb_build_object(
           'user_id', n.user_id,
           'payload', bff.job_view(n, case when n.state = 'queued' then bff.queue_position(n) else 0 end)
         ) order by n.id),
         coalesce(bool_or(o.state = 'queued' and n.state <> 'queued' and n.provider = 'tripo'), false)
  into v_events, v_moved
  from new_rows n join old_rows o on o.id = n.id
  where n.event_seq <> o.event_seq;
  perform bff.send_job_events(v_events);
  if v_moved then
    update public.jobs j set event_seq = j.event_seq + 1
    where j.id in (
      select w.id from public.jobs w
      where w.state = 'queued' and w.provider = 'tripo'
      order by w.run_at, w.id
      limit 20
    );
  end if;
  return null;
end
$$;
comment on function bff.broadcast_updated_jobs() is
  'Statement trigger on public.jobs updates: an event for each job the app sees change, and '
  'new places for the Tripo jobs waiting behind those that left the queue.';
revoke all on function bff.broadcast_updated_jobs() from public, anon, authenticated;

drop trigger if exists jobs_broadcast_insert on public.jobs;
create trigger jobs_broadcast_insert after insert on public.jobs
  referencing new table as new_rows
  for each statement execute function bff.broadcast_inserted_jobs();
drop trigger if exists jobs_broadcast_update on public.jobs;
create trigger jobs_broadcast_update after update on public.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function bff.broadcast_updated_jobs();

-- Who receives: the owner of a topic, and nobody else (no insert policy: clients cannot
-- broadcast into it; the BFF's trigger writes as the table owner's peer, bypassing RLS).
do $$
begin
  if to_regclass('realtime.messages') is null then
    raise notice 'realtime.messages not found; skipping the job events policy';
    return;
  end if;
  drop policy if exists "Users receive their own job events" on realtime.messages;
  create policy "Users receive their own job events" on realtime.messages
    for select to authenticated
    using (
      realtime.messages.extension = 'broadcast'
      and (select realtime.topic()) = 'user:' || (select auth.uid())::text || ':jobs'
    );
end
$$;
