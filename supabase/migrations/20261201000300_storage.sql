-- Baseline (3/9): buckets and storage.objects policies. Both buckets are private; each user owns
-- the folder named after their user id. Only the service role (which bypasses RLS) writes generated assets.

-- 50 MiB: GLB models to refine; the BFF itself caps images at 20 MB when it reads them.
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values (
  'input-assets', 'input-assets', false, 52428800,
  array['image/png', 'image/jpeg', 'image/webp', 'model/gltf-binary', 'application/octet-stream']
)
on conflict (id) do nothing;

insert into storage.buckets (id, name, public)
values ('generated-assets', 'generated-assets', false)
on conflict (id) do nothing;

-- input-assets: full control of one's own folder.
drop policy if exists "Users can upload input assets to their own folder" on storage.objects;
create policy "Users can upload input assets to their own folder" on storage.objects
  for insert to authenticated
  with check (
    bucket_id = 'input-assets'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  );

drop policy if exists "Users can read input assets in their own folder" on storage.objects;
create policy "Users can read input assets in their own folder" on storage.objects
  for select to authenticated
  using (
    bucket_id = 'input-assets'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  );

drop policy if exists "Users can update input assets in their own folder" on storage.objects;
create policy "Users can update input assets in their own folder" on storage.objects
  for update to authenticated
  using (
    bucket_id = 'input-assets'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  )
  with check (
    bucket_id = 'input-assets'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  );

drop policy if exists "Users can delete input assets in their own folder" on storage.objects;
create policy "Users can delete input assets in their own folder" on storage.objects
  for delete to authenticated
  using (
    bucket_id = 'input-assets'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  );

-- generated-assets: read-only for the owner; no write policy at all.
drop policy if exists "Users can read generated assets in their own folder" on storage.objects;
create policy "Users can read generated assets in their own folder" on storage.objects
  for select to authenticated
  using (
    bucket_id = 'generated-assets'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  );
