-- When Tripo jobs leave the queue, the jobs waiting behind them move up. Until now only the first
-- 20 got an event with their new place: a job 150th in the queue showed 150 until it was 20th,
-- for as long as that took (with the cap full, minutes). Now every waiting job hears of its move
-- when its place crosses a band: each place under 20, every 10th place under 100, every 50th up
-- to the 1,000 a place is counted to. One job leaving sends about 20 + 8 + 18 events however long
-- the queue, and a job far back still sees its number fall. task-status always answers the exact
-- place.
--
-- The places are ranked once per statement, without locks; the rows to renumber are then taken
-- with SKIP LOCKED as before (a job another transaction holds is changing anyway and gets its own
-- event), and the nested run of this trigger computes each one's exact place for its payload.

create or replace function bff.queue_place_band(p_place int)
returns int
language sql
immutable
as $$
  select case
    when p_place < 20 then p_place
    when p_place < 100 then 1000 + p_place / 10
    else 2000 + least(p_place, 1000) / 50
  end
$$;
comment on function bff.queue_place_band(int) is
  'Internal (broadcast_updated_jobs): places in one band share their live update; a job whose '
  'place moves to another band gets an event.';
revoke all on function bff.queue_place_band(int) from public, anon, authenticated;

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
begin
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
    -- history), then an id array, not a join: the renumbering stays an index probe per row
    -- whatever the estimates.
    select array_agg(r.id) into v_ids
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
      update public.jobs j set event_seq = j.event_seq + 1
      where j.id = any (array(
        select w.id from public.jobs w where w.id = any (v_ids) for update skip locked
      ));
    end if;
  end if;
  return null;
end
$$;
comment on function bff.broadcast_updated_jobs() is
  'Statement trigger on public.jobs updates: an event for each job the app sees change, and '
  'new places for the Tripo jobs waiting behind those that left the queue whose place crossed '
  'a band (bff.queue_place_band; rows another transaction holds are skipped: they get their '
  'own event).';
