# Reference fits for the formulaic-coded formula front end (tests/test_formulaic.py).
# Run from the repository root: Rscript tests/reference/make_refs_formulaic.R
# Writes tests/reference/formulaic/cases.json. Needs R with lme4, splines and jsonlite.
suppressPackageStartupMessages({ library(lme4); library(splines); library(jsonlite) })

data_dir <- "mejax/datasets/data"
ss <- read.csv(file.path(data_dir, "sleepstudy.csv")); ss$Subject <- factor(ss$Subject)
or <- read.csv(file.path(data_dir, "orthodont.csv")); or$Subject <- factor(or$Subject)
or$agef <- factor(or$age)
or$sex <- factor(ifelse(or$female == 1, "female", "male"))
cb <- read.csv(file.path(data_dir, "cbpp.csv")); cb$herd <- factor(cb$herd)
cb$period <- factor(cb$period)

vc <- function(m) {
  v <- as.data.frame(VarCorr(m))
  list(group = v$grp, var1 = v$var1, var2 = ifelse(is.na(v$var2), "", v$var2), estimate = v$vcov)
}
ref <- function(m, mejax_formula, data, extra = list()) {
  c(list(formula = mejax_formula, data = data, r_formula = deparse1(formula(m)),
         loglik = as.numeric(logLik(m)), fixef = unname(fixef(m)), r_names = names(fixef(m)),
         fixef_se = unname(sqrt(diag(as.matrix(vcov(m))))), varcomp = vc(m),
         x = unname(lapply(seq_len(ncol(getME(m, "X"))), function(j) getME(m, "X")[, j]))),
    extra)
}
ml <- function(f, d, ...) lmer(f, d, REML = FALSE, ...)
cases <- list(
  scale = ref(ml(distance ~ scale(age) + sex + (1 | Subject), or),
              "distance ~ scale(age) + sex + (1 | Subject)", "orthodont"),
  center = ref(ml(distance ~ scale(age, scale = FALSE) * sex + (1 | Subject), or),
               "distance ~ center(age) * sex + (1 | Subject)", "orthodont"),
  poly = ref(ml(Reaction ~ poly(Days, 2) + (1 | Subject), ss),
             "Reaction ~ poly(Days, 2) + (1 | Subject)", "sleepstudy"),
  bs = ref(ml(Reaction ~ bs(Days, df = 4) + (Days | Subject), ss),
           "Reaction ~ bs(Days, df=4) + (Days | Subject)", "sleepstudy"),
  sum = ref(ml(distance ~ agef + (1 | Subject), or, contrasts = list(agef = "contr.sum")),
            "distance ~ C(age, Sum) + (1 | Subject)", "orthodont"),
  helmert = ref(ml(distance ~ agef + (1 | Subject), or,
                   contrasts = list(agef = "contr.helmert")),
                "distance ~ C(age, Helmert) + (1 | Subject)", "orthodont"),
  treatment_ref = ref(ml(distance ~ relevel(agef, "10") + sex + (1 | Subject), or),
                      "distance ~ C(age, Treatment(reference=10)) + sex + (1 | Subject)",
                      "orthodont"),
  random_scale = ref(ml(Reaction ~ scale(Days) + (scale(Days) | Subject), ss),
                     "Reaction ~ scale(Days) + (scale(Days) | Subject)", "sleepstudy"),
  offset = ref(glmer(incidence ~ period + offset(log(size)) + (1 | herd), cb, family = poisson,
                     nAGQ = 1),
               "incidence ~ period + offset(log_size) + (1 | herd)", "cbpp",
               list(family = "poisson"))
)
write(toJSON(cases, auto_unbox = TRUE, digits = NA, pretty = TRUE),
      "tests/reference/formulaic/cases.json")
