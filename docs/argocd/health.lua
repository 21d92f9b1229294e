-- Argo CD health check for Signet's kinds (iam.signet.dev): ServiceAccount,
-- AccessRule and ClientCredential. One script serves all three; argocd-cm.yaml
-- installs it under each kind's key. It reads the conditions documented in
-- api/v1alpha1/condition_types.go, first match wins:
--
--   being deleted                                   Progressing
--   no conditions yet                               Progressing
--   Stalled=True (a person must act)                Degraded
--   status.observedGeneration < metadata.generation Progressing
--   Reconciling=True                                Progressing
--   Ready=True                                      Healthy (ExpiringSoon in the message)
--   Ready=False, switched off on purpose            Suspended
--   Ready=False, work under way                     Progressing
--   Ready=False, anything else                      Degraded
--   Ready=Unknown or missing                        Progressing

-- suspended lists, per kind, the Ready=False reasons that mean the object is
-- off because its spec (or its account's spec) says so. An expired
-- ServiceAccount or ClientCredential is Degraded, not Suspended: workloads
-- can no longer get tokens and someone has to act (ExpiringSoon warned
-- before). An AccessRule's expiry ends a time-boxed grant, which is what it
-- is for.
local suspended = {
  ServiceAccount = {Disabled = true},
  AccessRule = {Expired = true},
  ClientCredential = {Revoked = true, ServiceAccountNotReady = true},
}

-- progressing lists the Ready=False reasons that mean work is under way.
local progressing = {Progressing = true, KeysNotReady = true}

local function find(conditions, type)
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

-- describe is a condition's message, else its reason, else fallback.
local function describe(c, fallback)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local function health(status, message)
  return {status = status, message = message}
end

if obj.metadata.deletionTimestamp ~= nil then
  return health("Progressing", "Being deleted")
end

local status = obj.status or {}
local conditions = status.conditions or {}
if #conditions == 0 then
  return health("Progressing", "Waiting for the Signet manager to reconcile")
end

local stalled = find(conditions, "Stalled")
if isTrue(stalled) then
  return health("Degraded", describe(stalled, "Stalled"))
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  return health("Progressing", "Waiting for the Signet manager to observe generation " .. tostring(generation))
end

local reconciling = find(conditions, "Reconciling")
if isTrue(reconciling) then
  return health("Progressing", describe(reconciling, "Reconciling"))
end

local ready = find(conditions, "Ready")
if ready == nil or (ready.status ~= "True" and ready.status ~= "False") then
  return health("Progressing", "Waiting for the Ready condition")
end
if ready.status == "True" then
  local expiring = find(conditions, "ExpiringSoon")
  if isTrue(expiring) then
    return health("Healthy", "Ready; " .. describe(expiring, "the secret expires soon"))
  end
  return health("Healthy", describe(ready, "Ready"))
end

local reason = ready.reason or ""
local kindSuspended = suspended[obj.kind] or {}
if kindSuspended[reason] then
  return health("Suspended", describe(ready, reason))
end
if progressing[reason] then
  return health("Progressing", describe(ready, reason))
end
return health("Degraded", describe(ready, "Not ready"))
