# REML references for menl with residual structures, from R's nlme (Lindstrom-Bates).
# Run from the repository root:
#   Rscript tests/reference/make_refs_menl_reml.R
# Writes tests/reference/menl/reml_*.json in the layout of make_refs_menl_resid.R (helpers in
# menl_nlme_helpers.R). nlme's REML for nlme() fits (R/nlme.R, src/nlme.c): the LME step
# maximises the restricted likelihood of the linearised model over every variance
# parameter, and the PNLS step that follows (nlme_increment) re-estimates the random-effects
# covariance by ML (RML = 0) at the correlation and variance-function values of that LME
# step; the fit reports the restricted criterion at the fixed point.
source(file.path("tests", "reference", "menl_nlme_helpers.R"))

orange <- as.data.frame(Orange)
orange$occasion <- ave(orange$age, orange$Tree, FUN = rank)
orange_stata <- paste("menl circumference = {phi1:}/(1+exp(-(age-{b2})/{b3})),",
                      "define(phi1: {b1}+{U[Tree]}) initial(b1 192 b2 728 b3 353)")
soy_stata <- paste("menl weight = {phi1:}/(1+exp(-(Time-{b2})/{b3})),",
                   "define(phi1: {b1}+{U[Plot]}) initial(b1 19 b2 55 b3 8)")

f <- fit_nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = orange,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Tree,
              correlation = corAR1(form = ~occasion | Tree),
              start = c(Asym = 192, xmid = 728, scal = 353), method = "REML")
save_case("reml_orange_ar1", f, "orange.csv",
          paste(orange_stata, "rescorrelation(ar 1, t(occasion)) reml"))

# (Soybean with corCAR1 and constant variance: nlme stops, step halving in PNLS)
f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Plot,
              weights = varPower(form = ~fitted(.)),
              start = c(Asym = 19, xmid = 55, scal = 8), method = "REML")
save_case("reml_soybean_power", f, "soybean.csv",
          paste(soy_stata, "resvariance(power _yhat, noconstant) reml"))

f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Plot,
              weights = varPower(form = ~fitted(.)), correlation = corCAR1(form = ~Time | Plot),
              start = c(Asym = 19, xmid = 55, scal = 8), method = "REML")
save_case("reml_soybean_ctar1_power", f, "soybean.csv",
          paste(soy_stata, "resvariance(power _yhat, noconstant) rescorrelation(ctar1, t(Time)) reml"))
