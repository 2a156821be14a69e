-- Queue moves send the places they ranked. When Tripo jobs leave the queue, the live-update
-- trigger ranks the waiting jobs once and renumbers (bumps the seq of) those whose place crossed
-- a band; until now that renumbering ran this trigger again, which counted each renumbered job's
-- place afresh (bff.queue_position: one count of the jobs ahead, up to 1,000 rows, per job). With
-- 1,000 waiting Tripo jobs a cancel at the head sent 46 events and counted about 23,000 rows; a
-- claim of five for submission sent about 150 and counted about 75,000. Now the renumbering
-- builds its own events from the places it ranked, and the nested run of this trigger, told so by
-- a transaction-local setting (it works through a transaction-mode pooler), sends nothing.
-- Same events, same places, same seq; the rows another transaction holds are still skipped.

create or replace function bff.broadcast_updated_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_events jsonb;
  v_left int;
  v_ids uuid[];
  v_places int[];
begin
  -- The renumbering below is an update of this table: it sends its own events.
  if current_setting('bff.queue_renumbering', true) = 'on' then
    return null;
  end if;
  select jsonb_agg(jsonb_build_object(
           'user_id', n.user_id,
           'payload', bff.job_view(n, case when n.state = 'queued' then bff.queue_position(n) else 0 end)
         ) order by n.id),
         count(*) filter (where o.state = 'queued' and n.state <> 'queued' and n.provider = 'tripo')
  into v_events, v_left
  from new_rows n join old_rows o on o.id = n.id
  where n.event_seq <> o.event_seq;
  perform bff.send_job_events(v_events);
  if v_left > 0 then
    -- A job now at place p was at most at p + v_left: it gets an event if that crossed a band.
    -- The queue in claim order, read through the partial due index (the jobs table is mostly
    -- history), then id and place arrays, not a join: the renumbering stays an index probe per
    -- row whatever the estimates.
    select array_agg(r.id order by r.place), array_agg(r.place order by r.place)
    into v_ids, v_places
    from (
      select q.id, (row_number() over (order by q.run_at, q.id) - 1)::int as place
      from (
        select x.id, x.run_at from public.jobs x
        where x.state = 'queued' and x.provider = 'tripo'
        order by x.run_at, x.id
        limit 1000
      ) q
    ) r
    where bff.queue_place_band(r.place) <> bff.queue_place_band(r.place + v_left);
    if v_ids is not null then
      perform pg_catalog.set_config('bff.queue_renumbering', 'on', true);
      with bumped as (
        update public.jobs j set event_seq = j.event_seq + 1
        where j.id = any (array(
          select w.id from public.jobs w where w.id = any (v_ids) for update skip locked
        ))
        returning j as job
      )
      select jsonb_agg(jsonb_build_object(
               'user_id', (b.job).user_id, 'payload', bff.job_view(b.job, p.place)
             ) order by (b.job).id)
      into v_events
      from bumped b
      join unnest(v_ids, v_places) as p(id, place) on p.id = (b.job).id;
      perform pg_catalog.set_config('bff.queue_renumbering', '', true);
      perform bff.send_job_events(v_events);
    end if;
  end if;
  return null;
end
$$;
comment on function bff.broadcast_updated_jobs() is
  'Statement trigger on public.jobs updates: an event for each job the app sees change, and '
  'new places for the Tripo jobs waiting behind those that left the queue whose place crossed '
  'a band (bff.queue_place_band; ranked once; rows another transaction holds are skipped: they '
  'get their own event).';
revoke all on function bff.broadcast_updated_jobs() from public, anon, authenticated;
