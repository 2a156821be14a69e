-- storage ------------------------------------------------------------------------------------
create schema if not exists storage;
grant usage on schema storage to anon, authenticated, service_role;

create table if not exists storage.buckets (
  id text primary key,
  name text not null unique,
  owner uuid,
  owner_id text,
  public boolean default false,
  avif_autodetection boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  type text not null default 'STANDARD',
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  owner_id text,
  metadata jsonb,
  user_metadata jsonb,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored,
  version text,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now()
);
create unique index if not exists bucketid_objname on storage.objects (bucket_id, name);
create index if not exists name_prefix_search on storage.objects (name text_pattern_ops);

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

grant all on storage.buckets, storage.objects to anon, authenticated, service_role;

create or replace function storage.foldername(name text) returns text[]
language plpgsql immutable as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1:array_length(_parts, 1) - 1];
end
$$;

create or replace function storage.filename(name text) returns text
language plpgsql immutable as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[array_length(_parts, 1)];
end
$$;

create or replace function storage.extension(name text) returns text
language plpgsql immutable as $$
declare
  _parts text[];
  _filename text;
begin
  select string_to_array(name, '/') into _parts;
  select _parts[array_length(_parts, 1)] into _filename;
  return reverse(split_part(reverse(_filename), '.', 1));
end
$$;

grant execute on function storage.foldername(text), storage.filename(text), storage.extension(text)
  to anon, authenticated, service_role;

-- >>> storage_standin: the Storage stand-in's own helper (not Supabase's; localstack only) ----
-- The stand-in makes every query ONE statement (postgres.js 3.4.9 leaks errors out of
-- client-side transactions when a connection resets). Supabase Storage runs its SQL in a
-- transaction as the caller's role with the caller's JWT claims so RLS decides; exec_as is that
-- transaction, inside one statement: it sets the role and claims locally, runs `p_sql` with
-- `p_args` as $1 (a text[]: `$1[1]`, `$1[2]`, … cast in the SQL), and returns the rows as jsonb.
-- Modes: 'rows' (a query or DML … RETURNING), 'exec' (DML without RETURNING, so an INSERT-only
-- policy suffices, as on Supabase; one row {row_count}), 'probe' (runs it in a subtransaction
-- that is always rolled back: "would this be allowed?").
-- The role and claims are reset before returning, and were set with is_local anyway, so they
-- never reach the next statement. Not security definer (a definer function may not change
-- role); owned by postgres and executable by nobody else.
create schema if not exists storage_standin;
revoke all on schema storage_standin from public;

create or replace function storage_standin.exec_as(
  p_role text,
  p_claims jsonb,
  p_sql text,
  p_args text[] default '{}',
  p_mode text default 'rows'
) returns setof jsonb
language plpgsql volatile as $$
declare
  _n bigint;
  _r record;
begin
  -- Only the API roles: the stand-in must never run a caller's statement as anyone else.
  if p_role is null or p_role not in ('anon', 'authenticated', 'service_role') then
    raise exception 'exec_as: % is not an API role', p_role using errcode = '22023';
  end if;
  perform set_config('role', p_role, true),
          set_config('request.jwt.claims', coalesce(p_claims, '{}'::jsonb)::text, true),
          set_config('request.jwt.claim.sub', coalesce(p_claims ->> 'sub', ''), true),
          set_config('request.jwt.claim.role', p_role, true);
  if p_mode = 'rows' then
    -- A loop rather than wrapping p_sql in a CTE: a statement with its own data-modifying
    -- WITH must stay top-level. It runs to completion here, before the reset below.
    for _r in execute p_sql using p_args loop
      return next to_jsonb(_r);
    end loop;
  elsif p_mode = 'exec' then
    execute p_sql using p_args;
    get diagnostics _n = row_count;
    return next jsonb_build_object('row_count', _n);
  elsif p_mode = 'probe' then
    begin
      execute p_sql using p_args;
      raise exception using errcode = 'SBPRB'; -- allowed: undo it
    exception when sqlstate 'SBPRB' then
      null;
    end;
  else
    raise exception 'exec_as: unknown mode %', p_mode using errcode = '22023';
  end if;
  perform set_config('role', 'none', true),
          set_config('request.jwt.claims', '', true),
          set_config('request.jwt.claim.sub', '', true),
          set_config('request.jwt.claim.role', '', true);
end
$$;

revoke all on function storage_standin.exec_as(text, jsonb, text, text[], text) from public;
-- <<< storage_standin -------------------------------------------------------------------------
