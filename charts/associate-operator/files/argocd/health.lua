-- Argo CD health of the superoffice.assocsync.io kinds (Associate, WebhookReceiver,
-- ProvisioningPolicy, ClusterProvisioningPolicy), read as kstatus reads them:
--   Progressing until the operator has observed the current generation, while Reconciling
--   is True, and while a condition is False for a reason a retry can fix;
--   Degraded when Stalled is True, or a condition is False for a reason only a person can
--   fix (a template error, a missing Secret, ...);
--   Healthy when Ready (and every other condition) is True for the current generation.
local hs = { status = "Progressing", message = "Waiting for the operator" }

-- Reasons that no retry fixes: the object, its Secret or its policy must be changed.
local terminal = {
  TemplateError = true, InvalidSelector = true, TargetNotAllowed = true, ObjectConflict = true,
  SecretNotFound = true, NoKeysFound = true, TargetNamespaceNotAllowed = true,
  CredentialsNotFound = true, InvalidCredentials = true, EndpointNotAllowed = true,
  MassDeletionRefused = true, WebhookTooManyErrors = true, WebhookStopped = true,
}

local function describe(c)
  local text = c.type
  if c.reason ~= nil and c.reason ~= "" then text = text .. " " .. c.reason end
  if c.message ~= nil and c.message ~= "" then text = text .. ": " .. c.message end
  return text
end

if obj.status == nil then
  return hs
end
local generation = obj.metadata.generation or 0
local observed = obj.status.observedGeneration
local conditions = obj.status.conditions or {}
local byType = {}
for _, c in ipairs(conditions) do
  byType[c.type] = c
  if observed == nil and c.type == "Ready" then observed = c.observedGeneration end
end
if observed == nil or observed < generation then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

if byType.Stalled ~= nil and byType.Stalled.status == "True" then
  return { status = "Degraded", message = describe(byType.Stalled) }
end
if byType.Reconciling ~= nil and byType.Reconciling.status == "True" then
  return { status = "Progressing", message = describe(byType.Reconciling) }
end

local progressing = nil
for _, c in ipairs(conditions) do
  if c.type ~= "Reconciling" and c.type ~= "Stalled" then
    if c.observedGeneration ~= nil and c.observedGeneration < generation then
      progressing = progressing or (c.type .. " is not updated for generation " .. generation .. " yet")
    elseif c.status == "False" and terminal[c.reason] then
      return { status = "Degraded", message = describe(c) }
    elseif c.status ~= "True" then
      progressing = progressing or describe(c)
    end
  end
end
if byType.Ready == nil then
  hs.message = "Waiting for the Ready condition"
  return hs
end
if progressing ~= nil then
  hs.message = progressing
  return hs
end
return { status = "Healthy", message = byType.Ready.message or "" }
