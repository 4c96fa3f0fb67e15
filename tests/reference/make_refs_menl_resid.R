# Reference fits for menl's residual structures from R's nlme (Lindstrom-Bates, ML and REML).
# Run from the repository root:
#   Rscript tests/reference/make_refs_menl_resid.R
# Writes tests/reference/menl/resid_*.json in the layout of make_refs_menl.R, with the
# correlation parameter (corStruct) and variance-function parameters (varStruct) added.
# Stata's spellings of the same models:
#   corAR1(form = ~occasion | Tree)   rescorrelation(ar 1, t(occasion))
#   corCAR1(form = ~Time | Plot)      rescorrelation(ctar1, t(Time))
#   corCompSymm(form = ~1 | Seed)     rescorrelation(exchangeable)
#   varIdent(form = ~1 | Year)        resvariance(distinct, index(Year))
#   varPower(form = ~fitted(.))       resvariance(power _yhat, noconstant)
source(file.path("tests", "reference", "menl_nlme_helpers.R"))
orange <- as.data.frame(Orange)
orange$occasion <- ave(orange$age, orange$Tree, FUN = rank)
orange_stata <- paste("menl circumference = {phi1:}/(1+exp(-(age-{b2})/{b3})),",
                      "define(phi1: {b1}+{U[Tree]}) initial(b1 192 b2 728 b3 353)")
# ML here; REML with residual structures in make_refs_menl_reml.R
f <- fit_nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = orange,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Tree,
              correlation = corAR1(form = ~occasion | Tree),
              start = c(Asym = 192, xmid = 728, scal = 353), method = "ML")
save_case("resid_orange_ar1_ml", f, "orange.csv",
          paste(orange_stata, "rescorrelation(ar 1, t(occasion))"))

soy_stata <- paste("menl weight = {phi1:}/(1+exp(-(Time-{b2})/{b3})),",
                   "define(phi1: {b1}+{U[Plot]}) initial(b1 19 b2 55 b3 8)")
f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Plot,
              weights = varIdent(form = ~1 | Year),
              start = c(Asym = 19, xmid = 55, scal = 8), method = "ML")
save_case("resid_soybean_distinct_ml", f, "soybean.csv",
          paste(soy_stata, "resvariance(distinct, index(Year))"))

f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Plot,
              weights = varPower(form = ~fitted(.)), correlation = corCAR1(form = ~Time | Plot),
              start = c(Asym = 19, xmid = 55, scal = 8), method = "ML")
save_case("resid_soybean_ctar1_power_ml", f, "soybean.csv",
          paste(soy_stata, "resvariance(power _yhat, noconstant) rescorrelation(ctar1, t(Time))"))

lob_stata <- paste("menl height = {b1}+{U[Seed]}+({b2}-{b1}-{U[Seed]})*exp(-exp({b3})*age),",
                   "initial(b1 103 b2 -8.5 b3 -3.3)")
f <- fit_nlme(height ~ Asym + (R0 - Asym) * exp(-exp(lrc) * age), data = Loblolly,
              fixed = Asym + R0 + lrc ~ 1, random = Asym ~ 1 | Seed,
              correlation = corCompSymm(form = ~1 | Seed),
              start = c(Asym = 103, R0 = -8.5, lrc = -3.3), method = "ML")
save_case("resid_loblolly_exchangeable_ml", f, "loblolly.csv",
          paste(lob_stata, "rescorrelation(exchangeable)"))

# margins after menl on Orange (ML, no residual structure): the mean at zero random effects
# at age 500 and 1000, and the average derivative in age over the sample, with delta-method
# SEs from nlme's fixed effects and vcov (gradients by numDeriv)
suppressPackageStartupMessages(library(numDeriv))
f <- fit_nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = orange,
              fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Tree,
              start = c(Asym = 192, xmid = 728, scal = 353), method = "ML")
b <- fixef(f)
V <- f$varFix
curve <- function(p, age) p[1] / (1 + exp(-(age - p[2]) / p[3]))
ame <- function(p) mean(grad(function(a) curve(p, a), orange$age))
stats <- list(at500 = function(p) curve(p, 500), at1000 = function(p) curve(p, 1000),
              ame_age = ame)
margins_ref <- lapply(stats, function(g) {
  J <- grad(g, b)
  list(margin = g(b), se = sqrt(drop(t(J) %*% V %*% J)))
})
write(toJSON(list(id = "margins_orange_ml", software = sw, stata = paste(
  orange_stata, "// margins, at(age=(500 1000)) and margins, dydx(age)"),
  reference = margins_ref), auto_unbox = TRUE, digits = NA, pretty = TRUE),
  file.path(out_dir, "margins_orange_ml.json"))
cat("margins_orange_ml: at 500", margins_ref$at500$margin, "se", margins_ref$at500$se, "\n")
