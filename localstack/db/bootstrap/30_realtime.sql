-- realtime -----------------------------------------------------------------------------------
-- Broadcast from the database as the Realtime server keeps it in every project (its tenant
-- migrations, exported in supabase/realtime priv/repo/tenant_schema/realtime): the partitioned
-- `realtime.messages`, `realtime.topic()`, `realtime.send()` and `realtime.send_binary()`.
-- Postgres Changes (realtime.subscription and its functions) is not provided.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit noreplication;
  end if;
end
$$;
grant supabase_realtime_admin to postgres;

create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;
grant create, usage on schema realtime to supabase_realtime_admin with grant option;

create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp not null default now(),
  inserted_at timestamp not null default now(),
  id uuid not null default gen_random_uuid(),
  binary_payload bytea,
  constraint messages_pkey primary key (id, inserted_at),
  constraint messages_payload_exclusive check (payload is null or binary_payload is null)
) partition by range (inserted_at);
alter table realtime.messages enable row level security;
alter table realtime.messages owner to supabase_realtime_admin;
create index if not exists messages_inserted_at_topic_index
  on realtime.messages (inserted_at desc, topic)
  where extension = 'broadcast' and private is true;
grant insert, select, update on realtime.messages to anon, authenticated, service_role;

create or replace function realtime.topic() returns text
language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')::text;
$$;

-- Supabase's own body: the payload gets the message id unless it has one, realtime.topic is
-- set for the rest of the transaction, and any failure (a missing partition, an RLS refusal)
-- is only a WARNING, so the caller's transaction never fails because of a broadcast.
create or replace function realtime.send(
  payload jsonb, event text, topic text, private boolean default true
) returns void
language plpgsql as $$
declare
  generated_id uuid;
  final_payload jsonb;
begin
  begin
    generated_id := gen_random_uuid();
    if payload ? 'id' then
      final_payload := payload;
    else
      final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
    end if;
    execute format('SET LOCAL realtime.topic TO %L', topic);
    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (generated_id, final_payload, event, topic, private, 'broadcast');
  exception
    when others then
      raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;

create or replace function realtime.send_binary(
  payload bytea, event text, topic text, private boolean default true
) returns void
language plpgsql as $$
declare
  generated_id uuid;
begin
  begin
    generated_id := gen_random_uuid();
    execute format('SET LOCAL realtime.topic TO %L', topic);
    insert into realtime.messages (id, binary_payload, event, topic, private, extension)
    values (generated_id, payload, event, topic, private, 'broadcast');
  exception
    when others then
      raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;

alter function realtime.topic() owner to supabase_realtime_admin;
alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
alter function realtime.send_binary(bytea, text, text, boolean) owner to supabase_realtime_admin;
grant execute on function realtime.topic(), realtime.send(jsonb, text, text, boolean),
  realtime.send_binary(bytea, text, text, boolean) to anon, authenticated, service_role;

-- realtime_standin: LOCAL STAND-IN ONLY, not part of Supabase's image ---------------------------
-- What the Realtime server does from outside the database, done here in SQL for the stand-in in
-- localstack/realtime/: day partitions, delivery, and the authorization probe. Nothing in
-- supabase/migrations may use this schema.
create schema if not exists realtime_standin;
revoke all on schema realtime_standin from public;

-- The server creates the partitions for yesterday .. today + 3 (UTC) when it connects and every
-- few hours after, and drops those older than 72 hours; without one, realtime.send only warns.
create or replace function realtime_standin.ensure_partitions() returns void
language plpgsql set search_path = '' as $$
declare
  today date := (now() at time zone 'utc')::date;
  d date;
  part text;
begin
  for d in select g::date from generate_series(today - 1, today + 3, interval '1 day') g loop
    part := 'messages_' || to_char(d, 'YYYY_MM_DD');
    if to_regclass('realtime.' || part) is null then
      begin
        execute format(
          'create table realtime.%I partition of realtime.messages for values from (%L) to (%L)',
          part, d, d + 1);
        execute format('alter table realtime.%I owner to supabase_realtime_admin', part);
      exception when duplicate_table then
        null; -- another stand-in made it meanwhile
      end;
    end if;
  end loop;
  for part in
    select c.relname from pg_catalog.pg_inherits i
    join pg_catalog.pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'realtime.messages'::regclass
      and c.relname ~ '^messages_\d{4}_\d{2}_\d{2}$'
      and to_date(substr(c.relname, 10), 'YYYY_MM_DD') < ((now() at time zone 'utc') - interval '72 hours')::date
  loop
    execute format('drop table if exists realtime.%I', part);
  end loop;
end;
$$;
select realtime_standin.ensure_partitions();

-- Stands in for the server's logical-replication reader of realtime.messages (this Postgres runs
-- with wal_level = replica): the rows with a payload that an INSERT statement wrote are announced
-- on a channel the stand-in LISTENs to on the direct connection, as JSON arrays of messages in
-- insert order, one notification per ~7.5 kB. NOTIFY delivers in commit order and drops what a
-- rolled-back (sub)transaction sent. A message too big for a notification (8000 bytes) travels as
-- its key and is read back. One notification per statement, not per row, and only for the topics
-- a stand-in has a channel joined on (listened_topics): the platform's reader costs the writer
-- nothing, while a notifying commit takes a database-wide lock and wakes the listener, so
-- announcing every message made the stand-in a large share of a POST's and a claim's time.
-- The stand-in registers a topic before it answers the join, then waits out every transaction
-- that may have checked the list before (await_writers), so nothing committed after the join's
-- answer goes unannounced (subscribe-then-fetch stays gap-free).
create table if not exists realtime_standin.listened_topics (
  topic text not null,
  private boolean not null,
  -- The stand-in instance (one per start); a live one renews seen_at every minute.
  holder text not null,
  seen_at timestamptz not null default now(),
  primary key (topic, private, holder)
);
revoke all on realtime_standin.listened_topics from public;

drop trigger if exists realtime_standin_notify on realtime.messages;
drop function if exists realtime_standin.notify_message();
-- SECURITY DEFINER: whoever inserts (service_role, a user's broadcast) cannot read this schema.
create or replace function realtime_standin.notify_messages() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  batch text := '';
  item text;
  m record;
begin
  for m in
    select n.* from new_rows n
    where (n.payload is not null or n.binary_payload is not null)
      and exists (
        select 1 from realtime_standin.listened_topics l
        where l.topic = n.topic and l.private = n.private)
  loop
    item := pg_catalog.json_build_object(
      'id', m.id, 'inserted_at', m.inserted_at, 'topic', m.topic, 'event', m.event,
      'private', m.private, 'payload', m.payload::text,
      'binary_payload', pg_catalog.encode(m.binary_payload, 'hex'))::text;
    if pg_catalog.octet_length(item) > 7500 then
      item := pg_catalog.json_build_object('id', m.id, 'inserted_at', m.inserted_at)::text;
    end if;
    if batch <> '' and pg_catalog.octet_length(batch) + pg_catalog.octet_length(item) > 7500 then
      perform pg_catalog.pg_notify('realtime_standin_messages', '[' || batch || ']');
      batch := '';
    end if;
    batch := case when batch = '' then item else batch || ',' || item end;
  end loop;
  if batch <> '' then
    perform pg_catalog.pg_notify('realtime_standin_messages', '[' || batch || ']');
  end if;
  return null;
end;
$$;
create or replace trigger realtime_standin_notify
  after insert on realtime.messages
  referencing new table as new_rows
  for each statement execute function realtime_standin.notify_messages();

-- A topic the stand-in `p_holder` has no channel joined on any more.
drop function if exists realtime_standin.listen_topic(text, text, boolean, boolean);
create or replace function realtime_standin.unlisten_topic(
  p_holder text, p_topic text, p_private boolean
) returns void
language sql set search_path = '' as $$
  delete from realtime_standin.listened_topics
  where topic = p_topic and private = p_private and holder = p_holder;
$$;

-- Waits until every transaction of this database that held a transaction id when it was called
-- has ended (true), or p_timeout_ms passed (false). Called after listen_topic committed: a writer
-- whose trigger read listened_topics before that had already written its message, so it held an
-- id, and its commit now comes before the join's answer.
create or replace function realtime_standin.await_writers(p_timeout_ms int) returns boolean
language plpgsql set search_path = '' as $$
declare
  xids xid[];
  give_up timestamptz := pg_catalog.clock_timestamp()
    + pg_catalog.make_interval(secs => p_timeout_ms / 1000.0);
begin
  select pg_catalog.array_agg(a.backend_xid) into xids
  from pg_catalog.pg_stat_activity a
  where a.datname = pg_catalog.current_database() and a.backend_xid is not null
    and a.pid <> pg_catalog.pg_backend_pid();
  while xids is not null loop
    -- pg_stat_activity is read once per transaction unless the snapshot is dropped.
    perform pg_catalog.pg_stat_clear_snapshot();
    if not exists (
      select 1 from pg_catalog.pg_stat_activity a where a.backend_xid = any (xids)
    ) then
      return true;
    end if;
    if pg_catalog.clock_timestamp() > give_up then
      return false;
    end if;
    perform pg_catalog.pg_sleep(0.002);
  end loop;
  return true;
end;
$$;

-- Topics the stand-in `p_holder` has channels joined on: a new one at a join, all of them every
-- minute (rows gone meanwhile come back). Also drops the rows of stand-ins that stopped renewing
-- ten minutes ago (crashed: they only cost notifications).
drop function if exists realtime_standin.renew_topics(text, jsonb);
create or replace function realtime_standin.listen_topics(p_holder text, p_topics jsonb)
returns void
language plpgsql set search_path = '' as $$
begin
  insert into realtime_standin.listened_topics (topic, private, holder)
  select t ->> 'topic', (t ->> 'private')::boolean, p_holder
  from pg_catalog.jsonb_array_elements(p_topics) t
  on conflict (topic, private, holder) do update set seen_at = now();
  delete from realtime_standin.listened_topics
  where seen_at < now() - interval '10 minutes' and holder <> p_holder;
end;
$$;

-- Every topic of a stand-in that stops.
create or replace function realtime_standin.forget_holder(p_holder text) returns void
language sql set search_path = '' as $$
  delete from realtime_standin.listened_topics where holder = p_holder;
$$;

-- Private-channel authorization as the server runs it (lib/realtime/tenants/authorization.ex), in
-- ONE statement: read = probe rows inserted with the stand-in's own rights, then selected back as
-- the user; write = one insert per extension as the user, refused by RLS with 42501. The user is
-- in place through set_config(..., true) (role, realtime.topic, request.jwt.claims, …); the
-- deliberate raise at the end rolls the probes back and, with them, those settings.
create or replace function realtime_standin.authorize(
  p_role text,
  p_claims jsonb,
  p_topic text,
  p_headers jsonb,
  p_read text[],
  p_write text[]
) returns jsonb
language plpgsql set search_path = '' as $$
declare
  result jsonb := '{}';
  ids uuid[] := '{}';
  at_utc timestamp := now() at time zone 'utc';
  ext text;
  i int;
begin
  begin
    foreach ext in array p_read loop
      ids := ids || gen_random_uuid();
      insert into realtime.messages (id, topic, extension, inserted_at, updated_at)
      values (ids[array_length(ids, 1)], p_topic, ext, at_utc, at_utc);
    end loop;
    perform set_config('role', p_role, true),
      set_config('realtime.topic', p_topic, true),
      set_config('request.jwt.claims', p_claims::text, true),
      set_config('request.jwt.claim.sub', coalesce(p_claims ->> 'sub', ''), true),
      set_config('request.jwt.claim.role', p_role, true),
      set_config('request.headers', p_headers::text, true);
    for i in 1 .. coalesce(array_length(p_read, 1), 0) loop
      result := result || jsonb_build_object(
        p_read[i] || '_read',
        exists (select 1 from realtime.messages m where m.id = ids[i]));
    end loop;
    foreach ext in array p_write loop
      begin
        insert into realtime.messages (topic, extension, inserted_at, updated_at)
        values (p_topic, ext, at_utc, at_utc);
        result := result || jsonb_build_object(ext || '_write', true);
      exception when insufficient_privilege then
        result := result || jsonb_build_object(ext || '_write', false);
      end;
    end loop;
    result := result || jsonb_build_object('checked_as', current_user::text);
    raise exception using errcode = 'RSB01', message = 'realtime_standin probe rollback';
  exception when sqlstate 'RSB01' then
    null;
  end;
  return result;
end;
$$;
revoke all on function realtime_standin.ensure_partitions(), realtime_standin.notify_messages(),
  realtime_standin.unlisten_topic(text, text, boolean), realtime_standin.await_writers(int),
  realtime_standin.listen_topics(text, jsonb), realtime_standin.forget_holder(text),
  realtime_standin.authorize(text, jsonb, text, jsonb, text[], text[]) from public;
