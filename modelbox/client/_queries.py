"""The GraphQL documents the client sends."""

EXPERIMENT = """id name owner framework task status hyperparameters metadata
  labels { key value } createdAt startedAt endedAt namespace { name }"""
CHECKPOINT = "id step epoch metrics { key value } metadata createdAt"
ARTIFACT = "id name kind storage state uri size sha256 contentType uploadUrl downloadUrl createdAt"
MODEL = "id name task owner description labels { key value } createdAt namespace { name }"
VERSION = """id version name framework labels { key value } aliases metrics { key value }
  createdAt model { id name namespace { name } } experiment { id name } checkpoint { id step }"""
EVENT = "id name source wallclock payload sincePrevious"
POINTS = "steps wallclocks values tensors bytes nonFinite { index value }"
PAGE = "pageInfo { hasNextPage endCursor }"

NODE = "query($id: ID!) { node(id: $id) { __typename id ... on Experiment { %s } } }" % EXPERIMENT
EXPERIMENT_BY_NAME = (
    "query($ns: String!, $name: String!) { namespace(name: $ns) { experiment(name: $name) { %s } } }"
    % EXPERIMENT
)
EXPERIMENTS = """query($ns: String!, $first: Int, $after: String, $filter: ExperimentFilter) {
  namespace(name: $ns) { experiments(first: $first, after: $after, filter: $filter) {
    totalCount %s edges { node { %s } } } } }""" % (PAGE, EXPERIMENT)
CREATE_EXPERIMENT = "mutation($input: CreateExperimentInput!) { createExperiment(input: $input) { %s } }" % EXPERIMENT
UPDATE_EXPERIMENT = "mutation($input: UpdateExperimentInput!) { updateExperiment(input: $input) { %s } }" % EXPERIMENT

CHECKPOINTS = """query($id: ID!, $first: Int, $after: String) { node(id: $id) { ... on Experiment {
  checkpoints(first: $first, after: $after) { %s edges { node { %s } } } } } }""" % (PAGE, CHECKPOINT)
CREATE_CHECKPOINT = "mutation($input: CreateCheckpointInput!) { createCheckpoint(input: $input) { %s } }" % CHECKPOINT

ARTIFACTS = """query($id: ID!, $first: Int, $after: String) { node(id: $id) {
  ... on Experiment { artifacts(first: $first, after: $after) { %(page)s edges { node { %(a)s } } } }
  ... on Checkpoint { artifacts(first: $first, after: $after) { %(page)s edges { node { %(a)s } } } }
  ... on Model { artifacts(first: $first, after: $after) { %(page)s edges { node { %(a)s } } } }
  ... on ModelVersion { artifacts(first: $first, after: $after) { %(page)s edges { node { %(a)s } } } }
} }""" % {"page": PAGE, "a": ARTIFACT}
ARTIFACT_BY_ID = "query($id: ID!) { node(id: $id) { ... on Artifact { %s } } }" % ARTIFACT
CREATE_ARTIFACT = "mutation($input: CreateArtifactInput!) { createArtifact(input: $input) { %s } }" % ARTIFACT

MODEL_BY_NAME = "query($ns: String!, $name: String!) { namespace(name: $ns) { model(name: $name) { %s } } }" % MODEL
MODELS = """query($ns: String!, $first: Int, $after: String) { namespace(name: $ns) {
  models(first: $first, after: $after) { totalCount %s edges { node { %s latestVersion { version } } } } } }""" % (
    PAGE,
    MODEL,
)
MODEL_VERSIONS = """query($id: ID!, $first: Int, $after: String) { node(id: $id) { ... on Model {
  versions(first: $first, after: $after) { %s edges { node { %s } } } } } }""" % (PAGE, VERSION)
CREATE_MODEL = "mutation($input: CreateModelInput!) { createModel(input: $input) { %s } }" % MODEL
VERSION_BY_NUMBER = """query($ns: String!, $name: String!, $v: Int!) { namespace(name: $ns) {
  model(name: $name) { version(version: $v) { %s } } } }""" % VERSION
VERSION_BY_ALIAS = """query($ns: String!, $name: String!, $alias: String!) { namespace(name: $ns) {
  model(name: $name) { versions(first: 1, filter: {alias: $alias}) { edges { node { %s } } } } } }""" % VERSION
VERSION_BY_ID = "query($id: ID!) { node(id: $id) { ... on ModelVersion { %s } } }" % VERSION
CREATE_VERSION = "mutation($input: CreateModelVersionInput!) { createModelVersion(input: $input) { %s } }" % VERSION
UPDATE_VERSION = "mutation($input: UpdateModelVersionInput!) { updateModelVersion(input: $input) { %s } }" % VERSION

SERIES = """query($id: ID!, $keys: [String!]) { node(id: $id) {
  ... on Experiment { metricSeries(keys: $keys) { key kind count } }
  ... on ModelVersion { metricSeries(keys: $keys) { key kind count } } } }"""
POINTS_PAGE = """query($id: ID!, $key: String!, $from: Int, $limit: Int) { node(id: $id) {
  ... on Experiment { metric(key: $key) { kind points(fromStep: $from, limit: $limit) { %(p)s } } }
  ... on ModelVersion { metric(key: $key) { kind points(fromStep: $from, limit: $limit) { %(p)s } } } } }""" % {
    "p": POINTS
}
WATCH_METRICS = """subscription($id: ID!, $keys: [String!], $from: Int) {
  metricsLogged(subjectId: $id, keys: $keys, fromStep: $from) { key kind points { %s } } }""" % POINTS

EVENTS = """query($id: ID!, $first: Int, $after: String, $filter: EventFilter) { node(id: $id) {
  ... on Experiment { events(first: $first, after: $after, filter: $filter) { %(page)s edges { node { %(e)s } } } }
  ... on Checkpoint { events(first: $first, after: $after, filter: $filter) { %(page)s edges { node { %(e)s } } } }
  ... on Model { events(first: $first, after: $after, filter: $filter) { %(page)s edges { node { %(e)s } } } }
  ... on ModelVersion { events(first: $first, after: $after, filter: $filter) { %(page)s edges { node { %(e)s } } } }
} }""" % {"page": PAGE, "e": EVENT}
LOG_EVENTS = "mutation($input: LogEventsInput!) { logEvents(input: $input) { %s } }" % EVENT
WATCH_EVENTS = """subscription($id: ID, $ns: String, $names: [String!]) {
  events(subjectId: $id, namespace: $ns, names: $names) { %s subject { __typename id } } }""" % EVENT

VIEWER = "{ viewer { id name roles { namespace role } expiresAt } }"
CREATE_TOKEN = """mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) {
  token principal { id name roles { namespace role } expiresAt } } }"""
TOKENS = """query($first: Int, $after: String) { apiTokens(first: $first, after: $after) { %s
  edges { node { id name roles { namespace role } createdAt expiresAt lastUsedAt revoked } } } }""" % PAGE
REVOKE_TOKEN = "mutation($input: DeleteInput!) { revokeApiToken(input: $input) { deletedId } }"
