-- When Tripo jobs leave the queue, the live-update trigger gives the first 20 jobs waiting behind
-- them an event with their new place. It locked those rows with a plain UPDATE: a claim or a
-- cancel then waited on rows another transaction held, and two of them deadlocked (seen in the
-- bench: bff.claim_jobs against a bulk cancel; a failed claim ends the process-jobs loop). The
-- rows are now taken in queue order with SKIP LOCKED: a job another transaction holds is changing
-- anyway and gets its own event from that transaction, so nothing waits and no event is lost.
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
      for update skip locked
    );
  end if;
  return null;
end
$$;
comment on function bff.broadcast_updated_jobs() is
  'Statement trigger on public.jobs updates: an event for each job the app sees change, and '
  'new places for the Tripo jobs waiting behind those that left the queue (rows another '
  'transaction holds are skipped: they get their own event).';
