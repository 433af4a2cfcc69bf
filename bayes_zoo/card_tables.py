"""A card's `[prior]` and `[posterior]` tables, as the priors and posteriors they name.

A table is a `kind` and that kind's parameters; the others take their
defaults (`PRIOR_KINDS`, `POSTERIOR_KINDS`). Every task reads its card's
tables with these, and the zoo's card schema checks them against the same
kinds. Reading a table needs no TensorFlow until a distribution is made.

Example:

>>> bz.card_tables.prior_from_table({"kind": "normal", "stddev": 0.1})
>>> bz.card_tables.posterior_from_table({"kind": "mean_field_normal", "rho_mean": -5.0})
"""

def _normal_initializer(stddev, mean=0.0):
    import keras

    return keras.initializers.RandomNormal(mean, stddev)


def _normal_prior(p):
    from bayes_zoo import priors

    return priors.Normal(p["mean"], p["stddev"])


def _scale_mixture_prior(p):
    from bayes_zoo import priors

    return priors.ScaleMixtureNormal(p["pi"], p["sigma1"], p["sigma2"])


def _mean_field_posterior(p):
    # sigma = softplus(rho), loc ~ N(0, loc_stddev), rho ~ N(rho_mean, rho_stddev).
    from bayes_zoo import posteriors

    return posteriors.MeanFieldNormal(
        loc_initializer=_normal_initializer(p["loc_stddev"]),
        rho_initializer=_normal_initializer(p["rho_stddev"], p["rho_mean"]),
        loc_regularizer=_l1(p["loc_l1"]),
    )


def _multiplicative_posterior(p):
    # sigma^2 = alpha * mu^2, the paper's, with log_alpha = log_alpha_init.
    from bayes_zoo import posteriors

    return posteriors.MultiplicativeNormal(
        loc_initializer=_normal_initializer(p["loc_stddev"]),
        log_alpha_init=p["log_alpha_init"],
        loc_regularizer=_l1(p["loc_l1"]),
    )


def _l1(weight):
    # `loc_l1`: the weight of sum |mu| over the kernels in the per-example loss.
    import keras

    if not weight >= 0:
        raise ValueError(f"[posterior] loc_l1 must be >= 0. Received: {weight!r}")
    return keras.regularizers.L1(weight) if weight > 0 else None


# kind -> (parameters with their defaults, factory).
PRIOR_KINDS = {
    "normal": ({"mean": 0.0, "stddev": 0.1}, _normal_prior),
    "scale_mixture_normal": ({"pi": 0.5, "sigma1": 1.0, "sigma2": 0.0025}, _scale_mixture_prior),
}
POSTERIOR_KINDS = {
    "mean_field_normal": (
        {"loc_stddev": 0.1, "rho_mean": -5.0, "rho_stddev": 0.1, "loc_l1": 0.0},
        _mean_field_posterior),
    "multiplicative_normal": (
        {"loc_stddev": 0.1, "log_alpha_init": -10.0, "loc_l1": 0.0}, _multiplicative_posterior),
}


def _distribution_from_table(section, table, kinds):
    if not table:
        return None
    if not isinstance(table, dict) or table.get("kind") not in kinds:
        kind = table.get("kind") if isinstance(table, dict) else table
        raise ValueError(
            f"[{section}] kind must be one of {tuple(sorted(kinds))}. Received: kind={kind!r}"
        )
    defaults, factory = kinds[table["kind"]]
    parameters = {key: value for key, value in table.items() if key != "kind"}
    unknown = sorted(set(parameters) - set(defaults))
    if unknown:
        raise ValueError(
            f"Unknown key(s) {unknown} in [{section}] of kind {table['kind']!r}; expected "
            f"some of {sorted(defaults)}. Received: {table!r}"
        )
    return factory({**defaults, **parameters})


def prior_from_table(table):
    """The prior a card's `[prior]` table names.

    Args:
        table: None, or a dict with `kind` (`"normal"`: `mean`, `stddev`;
            `"scale_mixture_normal"`: `pi`, `sigma1`, `sigma2`) and any of
            its parameters (the others take their defaults).

    Returns:
        A `bz.priors.Prior`, or None for an empty table (no variational
        layers, or the library's default).

    Raises:
        ValueError: an unknown kind or parameter.

    Example:

    >>> bz.card_tables.prior_from_table({"kind": "normal", "stddev": 0.1})
    """
    return _distribution_from_table("prior", table, PRIOR_KINDS)


def posterior_from_table(table):
    """The posterior a card's `[posterior]` table names.

    Args:
        table: None, or a dict with `kind` (`"mean_field_normal"`:
            `loc_stddev`, `rho_mean`, `rho_stddev`; `"multiplicative_normal"`:
            `loc_stddev`, `log_alpha_init`; both: `loc_l1`, the weight of an
            L1 penalty `loc_l1 * sum |mu|` on the kernels' posterior means in
            the per-example loss, 0 for none) and any of its parameters.

    Returns:
        A `bz.posteriors.Posterior`, or None for an empty table.

    Raises:
        ValueError: an unknown kind or parameter.

    Example:

    >>> bz.card_tables.posterior_from_table({"kind": "multiplicative_normal", "log_alpha_init": -10.0})
    """
    return _distribution_from_table("posterior", table, POSTERIOR_KINDS)


def distribution_from_card(card, section):
    """The prior (`section="prior"`) or posterior of a card's `[prior]` / `[posterior]` table.

    The tables read as in every zoo card (`prior_from_table`,
    `posterior_from_table`): `kind` (`"normal"` or
    `"scale_mixture_normal"`; `"mean_field_normal"` or
    `"multiplicative_normal"`) and its parameters.

    Args:
        card: dict, a parsed zoo card.
        section: `"prior"` or `"posterior"`.

    Returns:
        A `bz.priors.Prior` / `bz.posteriors.Posterior`, or None when the card
        has no such table (the library defaults).

    Example:

    >>> card = tomllib.load(open("models/espcn_lrt_bsds.toml", "rb"))
    >>> bz.super_resolution.distribution_from_card(card, "posterior")
    MultiplicativeNormal(...)
    """
    from_table = {"prior": prior_from_table, "posterior": posterior_from_table}.get(section)
    if from_table is None:
        raise ValueError(
            f"Argument `section` must be 'prior' or 'posterior'. Received: section={section!r}"
        )
    return from_table(card.get(section))
