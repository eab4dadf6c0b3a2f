"""The GraphQL documents the client sends: operations built from shared fragments."""

from __future__ import annotations

SUBJECTS = ("Experiment", "Checkpoint", "Model", "ModelVersion")
PAGE = "pageInfo { hasNextPage endCursor }"

FRAGMENTS = {
    "E": """fragment E on Experiment { id name owner framework task status hyperparameters
      metadata labels { key value } createdAt startedAt endedAt namespace { name } }""",
    "C": "fragment C on Checkpoint { id step epoch metrics { key value } metadata createdAt }",
    "A": """fragment A on Artifact { id name kind storage state uri size sha256 contentType
      uploadUrl downloadUrl createdAt }""",
    "M": """fragment M on Model { id name task owner description labels { key value }
      createdAt namespace { name } }""",
    "V": """fragment V on ModelVersion { id version name framework labels { key value }
      aliases metrics { key value } createdAt model { id name namespace { name } }
      experiment { id name } checkpoint { id step } }""",
    "Ev": "fragment Ev on Event { id name source wallclock payload sincePrevious }",
    "P": """fragment P on MetricPoints { steps wallclocks values tensors bytes
      nonFinite { index value } }""",
}


def operation(text: str) -> str:
    """`text` with the fragments it spreads appended."""
    used = [body for name, body in FRAGMENTS.items() if f"...{name} " in text + " "]
    return "\n".join([text, *used])


def on_subjects(selection: str, types: tuple[str, ...] = SUBJECTS) -> str:
    return " ".join(f"... on {name} {{ {selection} }}" for name in types)


def connection(field: str, arguments: str, fragment: str) -> str:
    return f"{field}({arguments}) {{ totalCount {PAGE} edges {{ node {{ ...{fragment} }} }} }}"


NODE = operation("query($id: ID!) { node(id: $id) { __typename id ...E } }")
EXPERIMENT_BY_NAME = operation(
    "query($ns: String!, $name: String!) { namespace(name: $ns) {"
    " experiment(name: $name) { ...E } } }"
)
EXPERIMENTS = operation(
    "query($ns: String!, $first: Int, $after: String, $filter: ExperimentFilter) {"
    " namespace(name: $ns) { "
    + connection("experiments", "first: $first, after: $after, filter: $filter", "E")
    + " } }"
)
CREATE_EXPERIMENT = operation(
    "mutation($input: CreateExperimentInput!) { createExperiment(input: $input) { ...E } }"
)
UPDATE_EXPERIMENT = operation(
    "mutation($input: UpdateExperimentInput!) { updateExperiment(input: $input) { ...E } }"
)

CHECKPOINTS = operation(
    "query($id: ID!, $first: Int, $after: String) { node(id: $id) { "
    + on_subjects(connection("checkpoints", "first: $first, after: $after", "C"), ("Experiment",))
    + " } }"
)
CHECKPOINT_SOURCE = (
    "query($id: ID!) { node(id: $id) { ... on Checkpoint { metrics { key value }"
    " experiment { id } } } }"
)
CREATE_CHECKPOINT = operation(
    "mutation($input: CreateCheckpointInput!) { createCheckpoint(input: $input) { ...C } }"
)
UPDATE_CHECKPOINT = operation(
    "mutation($input: UpdateCheckpointInput!) { updateCheckpoint(input: $input) { ...C } }"
)

ARTIFACTS = operation(
    "query($id: ID!, $first: Int, $after: String) { node(id: $id) { "
    + on_subjects(connection("artifacts", "first: $first, after: $after", "A"))
    + " } }"
)
ARTIFACT_BY_ID = operation("query($id: ID!) { node(id: $id) { ...A } }")
CREATE_ARTIFACT = operation(
    "mutation($input: CreateArtifactInput!) { createArtifact(input: $input) { ...A } }"
)

MODEL_BY_NAME = operation(
    "query($ns: String!, $name: String!) { namespace(name: $ns) { model(name: $name) { ...M } } }"
)
MODELS = operation(
    "query($ns: String!, $first: Int, $after: String) { namespace(name: $ns) {"
    f" models(first: $first, after: $after) {{ totalCount {PAGE}"
    " edges { node { ...M latestVersion { version } } } } } }"
)
MODEL_VERSIONS = operation(
    "query($id: ID!, $first: Int, $after: String) { node(id: $id) { "
    + on_subjects(connection("versions", "first: $first, after: $after", "V"), ("Model",))
    + " } }"
)
CREATE_MODEL = operation(
    "mutation($input: CreateModelInput!) { createModel(input: $input) { ...M } }"
)
VERSION_BY_NUMBER = operation(
    "query($ns: String!, $name: String!, $v: Int!) { namespace(name: $ns) {"
    " model(name: $name) { version(version: $v) { ...V } } } }"
)
VERSION_BY_ALIAS = operation(
    "query($ns: String!, $name: String!, $alias: String!) { namespace(name: $ns) {"
    " model(name: $name) { versions(first: 1, filter: {alias: $alias}) {"
    " edges { node { ...V } } } } } }"
)
VERSION_BY_ID = operation("query($id: ID!) { node(id: $id) { ...V } }")
CREATE_VERSION = operation(
    "mutation($input: CreateModelVersionInput!) { createModelVersion(input: $input) { ...V } }"
)
UPDATE_VERSION = operation(
    "mutation($input: UpdateModelVersionInput!) { updateModelVersion(input: $input) { ...V } }"
)

METRIC_SUBJECTS = ("Experiment", "ModelVersion")
SERIES = (
    "query($id: ID!, $keys: [String!]) { node(id: $id) { "
    + on_subjects("metricSeries(keys: $keys) { key kind count }", METRIC_SUBJECTS)
    + " } }"
)
SERIES_SUMMARY = (
    "query($id: ID!) { node(id: $id) { "
    + on_subjects(
        "metricSeries { key kind count firstStep lastStep min max last { value nonFinite } }",
        METRIC_SUBJECTS,
    )
    + " } }"
)
POINTS_PAGE = operation(
    "query($id: ID!, $key: String!, $from: Long, $limit: Int) { node(id: $id) { "
    + on_subjects(
        "metric(key: $key) { kind points(fromStep: $from, limit: $limit) { ...P } }",
        METRIC_SUBJECTS,
    )
    + " } }"
)
WATCH_METRICS = operation(
    "subscription($id: ID!, $keys: [String!], $from: Long) {"
    " metricsLogged(subjectId: $id, keys: $keys, fromStep: $from) { key kind points { ...P } } }"
)

EVENTS = operation(
    "query($id: ID!, $first: Int, $after: String, $filter: EventFilter) { node(id: $id) { "
    + on_subjects(connection("events", "first: $first, after: $after, filter: $filter", "Ev"))
    + " } }"
)
LOG_EVENTS = operation("mutation($input: LogEventsInput!) { logEvents(input: $input) { ...Ev } }")
WATCH_EVENTS = operation(
    "subscription($id: ID, $ns: String, $names: [String!]) {"
    " events(subjectId: $id, namespace: $ns, names: $names) { ...Ev subject { __typename id } } }"
)

VIEWER = "{ viewer { id name roles { namespace role } expiresAt } }"
CREATE_TOKEN = (
    "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) {"
    " token principal { id name roles { namespace role } expiresAt } } }"
)
TOKENS = (
    f"query($first: Int, $after: String) {{ apiTokens(first: $first, after: $after) {{ {PAGE}"
    " edges { node { id name roles { namespace role } createdAt expiresAt lastUsedAt"
    " revokedAt } } } }"
)
REVOKE_TOKEN = "mutation($input: DeleteInput!) { revokeApiToken(input: $input) { deletedId } }"
