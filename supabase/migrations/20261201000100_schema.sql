-- Baseline (1/9): the BFF's schema and tables. Nothing was deployed before this baseline, so it
-- defines every object once, in files by feature. From here on migrations are append-only:
-- a migration that has landed is never edited; a change is a new file (README, "Migrations").
--
-- public.jobs is the durable state machine of one AI step; concept_images / models are the rows
-- the app reads. Writes to those three happen only through the bff.* functions (the jobs_*
-- files); RLS and grants are in 20261201000200_rls.sql.

-- Internal schema for the BFF's SQL API; never exposed through PostgREST.
create schema if not exists bff;
revoke all on schema bff from public;
grant usage on schema bff to service_role;

-- One trigger function keeps updated_at honest on every table that has it.
create or replace function bff.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
revoke all on function bff.set_updated_at() from public, anon, authenticated;
comment on function bff.set_updated_at() is 'Trigger: sets updated_at to now() on every update.';

-- jobs -------------------------------------------------------------------------------------
create table if not exists public.jobs (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  kind text not null
    check (kind in ('image_to_image', 'text_to_model', 'image_to_model', 'sketch_to_model', 'refine_model')),
  provider text not null check (provider in ('openai', 'tripo')),
  client_task_id text not null,
  request jsonb not null,
  idempotency_key text not null,
  request_hash text not null,
  rate_bucket text not null,
  state text not null default 'queued'
    check (state in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  provider_task_id text,
  submitted_at timestamptz,
  progress int not null default 0 check (progress between 0 and 100),
  -- Seconds left, as the provider estimates them (Tripo's running_left_time), while running.
  eta_seconds int check (eta_seconds >= 0),
  -- Credits held for this job when it was accepted (its kind's price then); charged when it
  -- completes, released when it fails or is cancelled (credits.sql).
  cost int not null default 0 check (cost >= 0),
  -- Bumped on every change the app sees (status, progress, ETA, queue position, outputs,
  -- error): the `seq` of the job's live events, so a client can order them and drop stale ones.
  event_seq int not null default 0,
  attempts int not null default 0 check (attempts >= 0),
  max_attempts int not null default 8 check (max_attempts >= 1),
  run_at timestamptz not null default now(),
  lease_token uuid,
  lease_expires_at timestamptz,
  error_code text,
  error_message text,
  result jsonb,
  deadline_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  -- The job failure codes, one list with supabase/functions/_shared/jobs/failures.ts (a unit
  -- test keeps the two equal).
  constraint jobs_error_code_known check (error_code is null or error_code in (
      'rate_limited', 'provider_unavailable', 'content_policy', 'invalid_request',
      'insufficient_credits', 'auth_failed', 'timeout', 'network',
      'bad_response', 'task_failed', 'task_expired', 'task_cancelled',
      'task_not_found', 'submission_unknown', 'output_invalid', 'output_unavailable',
      'storage_failed', 'internal_retry', 'deadline_exceeded', 'cancelled'
  )),
  -- A lease is a token plus its expiry, never half of one.
  constraint jobs_lease_pair check ((lease_token is null) = (lease_expires_at is null)),
  -- Terminal jobs hold no lease and have a finish time.
  constraint jobs_terminal_shape check (
    state in ('queued', 'running')
    or (lease_token is null and finished_at is not null)
  )
);
comment on table public.jobs is
  'Durable state machine of one AI step. Written only by bff.* functions; users read their own.';

-- Only non-terminal rows are ever claimable, so finished history never slows the claim.
-- (user_id, run_at) lets the claim skip-scan distinct users and take each user's oldest first.
create index if not exists jobs_claimable_idx on public.jobs (user_id, run_at)
  where state in ('queued', 'running');
-- Due jobs in run_at order, to top up a claim when the fair per-user share leaves slots empty.
create index if not exists jobs_due_idx on public.jobs (run_at)
  where state in ('queued', 'running');
-- Deadline sweep: non-terminal jobs by deadline.
create index if not exists jobs_deadline_idx on public.jobs (deadline_at)
  where state in ('queued', 'running');
-- The Tripo in-flight count (bff.tripo_in_flight) reads exactly these two small sets: jobs
-- submitted and not finished, and jobs leased for submission. Inserting a job, or claiming one
-- that waits, writes neither.
create index if not exists jobs_tripo_active_idx on public.jobs (submitted_at)
  where provider = 'tripo' and state in ('queued', 'running') and submitted_at is not null;
create index if not exists jobs_tripo_leased_idx on public.jobs (lease_expires_at)
  where provider = 'tripo' and state in ('queued', 'running') and submitted_at is null
    and lease_expires_at is not null;
-- Idempotency: header keys are unique forever; body keys only among jobs that may still succeed
-- (so a user can resubmit a body whose earlier job failed or was cancelled).
create unique index if not exists jobs_idempotency_uniq
  on public.jobs (user_id, kind, idempotency_key)
  where idempotency_key like 'hdr:%' or state not in ('failed', 'cancelled');
-- Rate limit window per user and bucket.
create index if not exists jobs_rate_idx on public.jobs (user_id, rate_bucket, created_at);
-- Retention.
create index if not exists jobs_finished_idx on public.jobs (finished_at)
  where state in ('succeeded', 'failed', 'cancelled');

-- The claim and completion set updated_at themselves (they touch many rows at once); the
-- per-row trigger runs only for updates that leave it unchanged (every other writer).
drop trigger if exists jobs_set_updated_at on public.jobs;
create trigger jobs_set_updated_at before update on public.jobs
  for each row when (new.updated_at is not distinct from old.updated_at)
  execute function bff.set_updated_at();

-- input_assets -----------------------------------------------------------------------------
create table if not exists public.input_assets (
  id uuid primary key default gen_random_uuid(),
  task_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  prompt text,
  style text,
  input_asset_type text not null
    check (input_asset_type in ('text_prompt', 'uploaded_photo', 'uploaded_sketch', 'uploaded_model')),
  asset_url text,
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'complete', 'failed')),
  storage_bucket text,
  storage_path text,
  job_id uuid references public.jobs (id) on delete set null,
  metadata jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.input_assets is 'What the app uploaded or typed; written by the client.';
comment on column public.input_assets.asset_url is
  'Permanent authenticated object URL; never a signed (expiring) URL.';
create index if not exists input_assets_user_task_idx on public.input_assets (user_id, task_id);
create index if not exists input_assets_job_idx on public.input_assets (job_id);

drop trigger if exists input_assets_set_updated_at on public.input_assets;
create trigger input_assets_set_updated_at before update on public.input_assets
  for each row execute function bff.set_updated_at();

-- concept_images ---------------------------------------------------------------------------
create table if not exists public.concept_images (
  id uuid primary key default gen_random_uuid(),
  task_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  source_input_asset_id uuid references public.input_assets (id) on delete set null,
  prompt text,
  style text,
  asset_url text,
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'complete', 'failed')),
  ai_service_task_id text,
  storage_bucket text,
  storage_path text,
  job_id uuid references public.jobs (id) on delete set null,
  image_index int not null default 0 check (image_index >= 0),
  error text,
  metadata jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.concept_images is
  'One row per generated concept image (image_index 0..n-1 of its job). Written only by the BFF.';
comment on column public.concept_images.asset_url is
  'Permanent authenticated object URL; never a signed (expiring) URL.';
create index if not exists concept_images_user_task_idx on public.concept_images (user_id, task_id);
create index if not exists concept_images_job_idx on public.concept_images (job_id);

drop trigger if exists concept_images_set_updated_at on public.concept_images;
create trigger concept_images_set_updated_at before update on public.concept_images
  for each row execute function bff.set_updated_at();

-- models -----------------------------------------------------------------------------------
create table if not exists public.models (
  id uuid primary key default gen_random_uuid(),
  task_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  source_input_asset_id uuid references public.input_assets (id) on delete set null,
  source_concept_image_id uuid references public.concept_images (id) on delete set null,
  prompt text,
  style text,
  asset_url text,
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'complete', 'failed')),
  ai_service_task_id text,
  storage_bucket text,
  storage_path text,
  job_id uuid references public.jobs (id) on delete set null,
  progress int not null default 0 check (progress between 0 and 100),
  error text,
  metadata jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.models is 'One row per generated 3D model. Written only by the BFF.';
comment on column public.models.asset_url is
  'Permanent authenticated object URL; never a signed (expiring) URL.';
create index if not exists models_user_task_idx on public.models (user_id, task_id);
create index if not exists models_job_idx on public.models (job_id);
-- Refine looks up the caller's own model by its storage location.
create index if not exists models_user_location_idx
  on public.models (user_id, storage_bucket, storage_path);
-- ... and checks a given draft id is the caller's own finished model.
create index if not exists models_user_task_id_idx
  on public.models (user_id, ai_service_task_id);

drop trigger if exists models_set_updated_at on public.models;
create trigger models_set_updated_at before update on public.models
  for each row execute function bff.set_updated_at();
