-- Baseline (2/9): row level security on every public table. Supabase grants the API roles ALL
-- on public tables by default, so RLS is what keeps rows private. Grants are narrowed too, as
-- defence in depth:
-- nobody but the BFF (postgres / service_role) writes concept_images, models or jobs.

alter table public.jobs enable row level security;
alter table public.input_assets enable row level security;
alter table public.concept_images enable row level security;
alter table public.models enable row level security;

revoke insert, update, delete, truncate, references, trigger
  on public.jobs, public.concept_images, public.models from anon, authenticated;
revoke all on public.jobs, public.input_assets, public.concept_images, public.models from anon;
revoke delete, truncate, references, trigger on public.input_assets from authenticated;

-- input_assets: the client writes its own rows.
drop policy if exists "Users can read their own input assets" on public.input_assets;
create policy "Users can read their own input assets" on public.input_assets
  for select to authenticated
  using ((select auth.uid()) = user_id);

drop policy if exists "Users can add their own input assets" on public.input_assets;
create policy "Users can add their own input assets" on public.input_assets
  for insert to authenticated
  with check (
    (select auth.uid()) = user_id
    -- A row may only point at one of the caller's own jobs (RLS on jobs applies here).
    and (job_id is null or exists (select 1 from public.jobs j where j.id = job_id))
  );

drop policy if exists "Users can update their own input assets" on public.input_assets;
create policy "Users can update their own input assets" on public.input_assets
  for update to authenticated
  using ((select auth.uid()) = user_id)
  with check (
    (select auth.uid()) = user_id
    and (job_id is null or exists (select 1 from public.jobs j where j.id = job_id))
  );

-- concept_images / models / jobs: read-only for their owner.
drop policy if exists "Users can read their own concept images" on public.concept_images;
create policy "Users can read their own concept images" on public.concept_images
  for select to authenticated
  using ((select auth.uid()) = user_id);

drop policy if exists "Users can read their own models" on public.models;
create policy "Users can read their own models" on public.models
  for select to authenticated
  using ((select auth.uid()) = user_id);

drop policy if exists "Users can read their own jobs" on public.jobs;
create policy "Users can read their own jobs" on public.jobs
  for select to authenticated
  using ((select auth.uid()) = user_id);
