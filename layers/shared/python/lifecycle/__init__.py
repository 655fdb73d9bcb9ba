"""The account-lifecycle service's shared package (deployed as the Lambda layer).

Rooms, after aws-lambda-handler-cookbook:
- ``settings``, ``clock``, ``money``, ``errors``: basics every function uses.
- ``observability``: the one Logger, Tracer and Metrics of a function.
- ``http``: the Powertools resolver factory, problem+json errors, the caller's claims.
- ``storage``: pynamodb models, one per table of template.yaml.
- domain modules (``campaigns``, ``trials``, ``sweeps``): plain logic over the models.
"""
