# References for menl's resvariance(..., strata(varname)): the variance function's parameters
# separately for every stratum, one sigma^2 (Lindstrom-Bates, ML). Run from the repository
# root:   Rscript tests/reference/make_refs_menl_strata.R
# varPower(form = ~fitted(.) | Variety) is resvariance(power _yhat, noconstant strata(Variety)).
# Writes tests/reference/menl/strata_soybean_power_ml.json (layout of make_refs_menl_resid.R).
source(file.path("tests", "reference", "menl_nlme_helpers.R"))

soy_stata <- paste("menl weight = {phi1:}/(1+exp(-(Time-{b2})/{b3})),",
                   "define(phi1: {b1}+{U[Plot]}) initial(b1 19 b2 55 b3 8)")
f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Plot,
              weights = varPower(form = ~fitted(.) | Variety),
              start = c(Asym = 19, xmid = 55, scal = 8), method = "ML")
save_case("strata_soybean_power_ml", f, "soybean.csv",
          paste(soy_stata, "resvariance(power _yhat, noconstant strata(Variety))"))
print(f$modelStruct$varStruct)
print(sqrt(diag(f$apVar)))
